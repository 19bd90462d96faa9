import { hash } from "node:crypto";
import { BASE62, randomBase62 } from "../ids.js";

/** 32 base62 characters carry 190 bits from the CSPRNG. */
const RANDOM_LENGTH = 32;
/** CRC32 (32 bits) always fits in 6 base62 characters (62^6 > 2^32). */
const CHECKSUM_LENGTH = 6;

export const KEY_PREFIX_PATTERN = /^[a-z][a-z0-9]{0,9}(_[a-z0-9]{1,10})?$/;

/**
 * API keys look like `<prefix>_<32 random base62><6 base62 CRC32 of everything before it>`, e.g.
 * `gw_4fQ…`. The checksum lets us refuse a mistyped or invented key without touching Redis or
 * Postgres, and the fixed shape lets secret scanners find leaked keys (see `keyRegex`).
 */
export class KeyFormat {
  /** The prefix and its underscore as character codes. */
  private readonly prefixCodes: number[];

  constructor(readonly prefix: string) {
    if (!KEY_PREFIX_PATTERN.test(prefix)) {
      throw new Error(`key prefix "${prefix}" must match ${KEY_PREFIX_PATTERN}`);
    }
    this.prefixCodes = Array.from(`${prefix}_`, (c) => c.charCodeAt(0));
  }

  /** The regex a secret scanner can use to find this deployment's keys in text. */
  get scannerRegex(): string {
    return `\\b${this.prefix}_[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}\\b`;
  }

  generate(): string {
    const head = `${this.prefix}_${randomBase62(RANDOM_LENGTH)}`;
    return head + checksum(head);
  }

  /**
   * True when the text has this deployment's prefix, the right shape and a matching checksum. On
   * every check, so it reads the text's characters once and builds no string: with slices, a regular
   * expression and zlib's crc32 (which encodes the text first) it took twice as long.
   */
  isWellFormed(text: string): boolean {
    const head = this.prefix.length + 1;
    const end = text.length - CHECKSUM_LENGTH;
    if (end !== head + RANDOM_LENGTH) return false;
    let crc = CRC_START;
    for (let i = 0; i < end; i++) {
      const code = text.charCodeAt(i);
      if (i < head ? code !== this.prefixCodes[i] : base62Digit(code) < 0) return false;
      crc = crcStep(crc, code);
    }
    // The checksum's digits from the last: the CRC's base62 digits, least significant first.
    let value = crcValue(crc);
    for (let i = text.length - 1; i >= end; i--) {
      if (base62Digit(text.charCodeAt(i)) !== value % 62) return false;
      value = Math.floor(value / 62);
    }
    return true;
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
  let crc = CRC_START;
  for (let i = 0; i < text.length; i++) crc = crcStep(crc, text.charCodeAt(i));
  let value = crcValue(crc);
  let out = "";
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = BASE62[value % 62] + out;
    value = Math.floor(value / 62);
  }
  return out;
}

// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320: zlib's crc32) of ASCII text, a character a byte.
const CRC_TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let bit = 0; bit < 8; bit++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  CRC_TABLE[n] = c;
}
const CRC_START = -1;

function crcStep(crc: number, byte: number): number {
  return (CRC_TABLE[(crc ^ byte) & 0xff] as number) ^ (crc >>> 8);
}

function crcValue(crc: number): number {
  return (crc ^ -1) >>> 0;
}

/** The value of a base62 character (BASE62's order: digits, A-Z, a-z), or -1 for any other. */
function base62Digit(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  if (code >= 65 && code <= 90) return code - 55;
  if (code >= 97 && code <= 122) return code - 61;
  return -1;
}
