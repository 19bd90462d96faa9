import { describe, expect, test } from "vitest";
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
