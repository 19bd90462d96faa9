import { hash } from "node:crypto";
import { crc32 } from "node:zlib";
import { BASE62, randomBase62 } from "../ids.js";

/** 32 base62 characters carry 190 bits from the CSPRNG. */
const RANDOM_LENGTH = 32;
/** CRC32 (32 bits) always fits in 6 base62 characters (62^6 > 2^32). */
const CHECKSUM_LENGTH = 6;
const BODY = new RegExp(`^[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}$`);

export const KEY_PREFIX_PATTERN = /^[a-z][a-z0-9]{0,9}(_[a-z0-9]{1,10})?$/;

/**
 * API keys look like `<prefix>_<32 random base62><6 base62 CRC32 of everything before it>`, e.g.
 * `gw_4fQ…`. The checksum lets us refuse a mistyped or invented key without touching Redis or
 * Postgres, and the fixed shape lets secret scanners find leaked keys (see `keyRegex`).
 */
export class KeyFormat {
  constructor(readonly prefix: string) {
    if (!KEY_PREFIX_PATTERN.test(prefix)) {
      throw new Error(`key prefix "${prefix}" must match ${KEY_PREFIX_PATTERN}`);
    }
  }

  /** The regex a secret scanner can use to find this deployment's keys in text. */
  get scannerRegex(): string {
    return `\\b${this.prefix}_[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}\\b`;
  }

  generate(): string {
    const head = `${this.prefix}_${randomBase62(RANDOM_LENGTH)}`;
    return head + checksum(head);
  }

  /** True when the text has this deployment's prefix, the right shape and a matching checksum. */
  isWellFormed(text: string): boolean {
    if (text.length !== this.prefix.length + 1 + RANDOM_LENGTH + CHECKSUM_LENGTH) return false;
    if (!text.startsWith(`${this.prefix}_`)) return false;
    const body = text.slice(this.prefix.length + 1);
    if (!BODY.test(body)) return false;
    const head = text.slice(0, text.length - CHECKSUM_LENGTH);
    return checksum(head) === text.slice(-CHECKSUM_LENGTH);
  }

  /** A short, non-secret start of the key that lets a person tell their keys apart. */
  displayStart(key: string): string {
    return key.slice(0, this.prefix.length + 1 + 6);
  }
}

/** The only form in which a key is stored or compared: hex SHA-256 of the whole key text. */
export function hashKey(key: string): string {
  // One-shot: no Hash object, which as a native-backed object would outlive young-generation GCs.
  return hash("sha256", key, "hex");
}

function checksum(text: string): string {
  let value = crc32(text) >>> 0;
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}
