/**
 * Replaying pre-encoded messages: the sidecar drops an entry whose x-request-id it has seen, so every
 * copy sent carries new ids, and start_time follows the clock. Both are fixed-width in the encoding,
 * so they are written into the bytes at offsets found once (see TemplateSet.encode).
 */
import type { Template } from "./access-log.js";

/** x-request-id is a UUID: 36 characters. */
export const ID_LENGTH = 36;

/** Any time from 1978 to 3058 is a 5-byte varint, so a new second overwrites the old in place. */
export const PLACEHOLDER_SECONDS = 1_999_999_999;

export function varint(value: number): number[] {
  const bytes: number[] = [];
  let v = value;
  while (v >= 0x80) {
    bytes.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  bytes.push(v);
  return bytes;
}

/** Sets start_time.seconds of every entry of every template. */
export function setStartSeconds(templates: Template[], seconds: number): void {
  const bytes = varint(seconds);
  if (bytes.length !== 5) throw new Error(`${seconds} is not a 5-byte varint`);
  for (const template of templates) {
    for (const at of template.secondsOffsets)
      for (let i = 0; i < 5; i++) template.frame[at + i] = bytes[i] as number;
  }
}

/** Fixed-width, UUID-shaped ids (`<8 hex of the run>-dddd-dddd-dddd-dddddddddddd`), counted up in place. */
export class RequestIds {
  readonly current: Buffer;
  private readonly digits: number[] = [];

  constructor(runPrefix: string) {
    if (!/^[0-9a-f]{8}$/.test(runPrefix)) throw new Error("the run prefix is 8 hex digits");
    this.current = Buffer.from(`${runPrefix}-0000-0000-0000-000000000000`, "latin1");
    for (let i = 9; i < ID_LENGTH; i++) if (this.current[i] !== 0x2d) this.digits.push(i);
  }

  next(): Buffer {
    const id = this.current;
    for (let d = this.digits.length - 1; d >= 0; d--) {
      const at = this.digits[d] as number;
      if (id[at] === 0x39) {
        id[at] = 0x30;
        continue;
      }
      id[at] = (id[at] as number) + 1;
      break;
    }
    return id;
  }
}

/** A copy of the template's frame with a new id in each entry; `prefix` (the identifier) goes in front. */
export function stamp(template: Template, ids: RequestIds, prefix?: Buffer): Buffer {
  const shift = prefix ? prefix.length : 0;
  const out = Buffer.allocUnsafe(template.frame.length + shift);
  if (prefix) {
    out.writeUInt8(0, 0);
    out.writeUInt32BE(template.frame.length - 5 + shift, 1);
    prefix.copy(out, 5);
    template.frame.copy(out, 5 + shift, 5);
  } else {
    template.frame.copy(out);
  }
  const offsets = template.idOffsets;
  for (let i = 0; i < offsets.length; i += 2) {
    const id = ids.next();
    id.copy(out, (offsets[i] as number) + shift);
    id.copy(out, (offsets[i + 1] as number) + shift);
  }
  return out;
}
