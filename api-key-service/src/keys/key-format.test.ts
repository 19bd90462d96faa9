import { crc32 } from "node:zlib";
import { describe, expect, test } from "vitest";
import { BASE62 } from "../ids.js";
import { hashKey, KeyFormat } from "./key-format.js";

describe("key format", () => {
  const format = new KeyFormat("gw");

  test("a generated key is well formed and matches the published scanner regex", () => {
    const key = format.generate();
    expect(key).toMatch(/^gw_[0-9A-Za-z]{38}$/);
    expect(format.isWellFormed(key)).toBe(true);
    expect(new RegExp(format.scannerRegex).test(`leaked in a log: ${key} end`)).toBe(true);
  });

  test("keys do not repeat", () => {
    const keys = new Set(Array.from({ length: 2000 }, () => format.generate()));
    expect(keys.size).toBe(2000);
  });

  test("any single-character change is caught by the checksum", () => {
    const key = format.generate();
    const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    for (let i = 3; i < key.length; i++) {
      const replacement = alphabet[(alphabet.indexOf(key[i] as string) + 1) % 62];
      const typo = key.slice(0, i) + replacement + key.slice(i + 1);
      expect(format.isWellFormed(typo), `typo at ${i}`).toBe(false);
    }
  });

  test("wrong prefix, length, alphabet or an empty value are refused", () => {
    const key = format.generate();
    expect(format.isWellFormed(`xx${key.slice(2)}`)).toBe(false);
    expect(format.isWellFormed(key.slice(0, -1))).toBe(false);
    expect(format.isWellFormed(`${key}A`)).toBe(false);
    expect(format.isWellFormed(`${key.slice(0, 10)}-${key.slice(11)}`)).toBe(false);
    expect(format.isWellFormed("")).toBe(false);
    expect(new KeyFormat("acme_live").isWellFormed(key)).toBe(false);
  });

  test("the checksum is the base62 of zlib's CRC-32 of everything before it", () => {
    for (const prefix of ["gw", "acme_live", "z9"]) {
      for (let i = 0; i < 200; i++) {
        const key = new KeyFormat(prefix).generate();
        let value = crc32(key.slice(0, -6)) >>> 0;
        let digits = "";
        for (let d = 0; d < 6; d++) {
          digits = BASE62[value % 62] + digits;
          value = Math.floor(value / 62);
        }
        expect(key.slice(-6)).toBe(digits);
      }
    }
  });

  test("characters outside base62, or outside ASCII, are refused wherever they are", () => {
    const key = format.generate();
    for (const bad of ["-", "_", " ", "é", "\u0100", "\uD83D", "\0", "/", ":", "@", "[", "`", "{"]) {
      for (const at of [3, 20, key.length - 6, key.length - 1]) {
        const text = key.slice(0, at) + bad + key.slice(at + 1);
        expect(format.isWellFormed(text), `${JSON.stringify(bad)} at ${at}`).toBe(false);
      }
    }
    expect(format.isWellFormed(`gW${key.slice(2)}`)).toBe(false);
    expect(format.isWellFormed(`gw-${key.slice(3)}`)).toBe(false);
  });

  test("a prefix with an underscore works and keys carry it", () => {
    const live = new KeyFormat("acme_live");
    const key = live.generate();
    expect(key.startsWith("acme_live_")).toBe(true);
    expect(live.isWellFormed(key)).toBe(true);
  });

  test("prefixes that would make keys ambiguous are refused", () => {
    for (const bad of ["", "GW", "gw-", "1gw", "gw_", "waytoolongprefix"]) {
      expect(() => new KeyFormat(bad), bad).toThrow(/key prefix/);
    }
  });

  test("the display start is short and not enough to use the key", () => {
    const key = format.generate();
    expect(format.displayStart(key)).toBe(key.slice(0, 9));
  });

  test("the hash is SHA-256 hex and differs from the key", () => {
    const key = format.generate();
    expect(hashKey(key)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashKey(key)).not.toContain(key);
  });
});
