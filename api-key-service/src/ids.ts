import { randomInt } from "node:crypto";

export const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** Uniform base62 text from the CSPRNG (randomInt rejects biased draws). */
export function randomBase62(length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += BASE62[randomInt(62)];
  return out;
}

/** Public identifiers such as `key_7Gx…`: 22 base62 characters (about 131 random bits), not secret. */
export function newId(prefix: string): string {
  return `${prefix}_${randomBase62(22)}`;
}
