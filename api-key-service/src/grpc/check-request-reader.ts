import type { CheckInput } from "../authz/check-key.js";
import { parseCost, parseScopes } from "../authz/credentials.js";

/** The bytes are not a CheckRequest this reader can walk. */
export class MalformedCheckRequest extends Error {}

// Field numbers on the way from a CheckRequest to what the check reads (envoy/service/auth/v3 and
// envoy/config/core/v3 protos).
const CHECK_REQUEST_ATTRIBUTES = 1;
const ATTRIBUTES_REQUEST = 4;
const ATTRIBUTES_CONTEXT_EXTENSIONS = 10;
const REQUEST_HTTP = 2;
const HTTP_HEADERS = 3;
const HTTP_HEADER_MAP = 13;
const HEADER_MAP_HEADERS = 1;
/** The context extensions a route sets for the check (docs/AUTHZ.md). */
const REQUIRED_SCOPES = "required_scopes";
const COST = "cost";

/**
 * Reads what the check uses from an encoded envoy.service.auth.v3.CheckRequest: the request's headers
 * (the `headers` map, or `header_map` when Envoy sends raw headers) and the route's
 * `context_extensions`. Everything else (peers, addresses, the request's id, time, path and body,
 * metadata) is skipped by its length without being decoded, and a header's value is decoded only
 * when the check asks for that header: decoding the whole message with protobufjs was about a fifth
 * of the service's CPU per check (docs/PERFORMANCE.md).
 *
 * It answers as `toCheckInput(CheckRequest.decode(bytes))` does for every message an encoder writes,
 * unknown fields and repeated occurrences of a field included: the last occurrence of a message field
 * wins, map entries accumulate and a later entry of a key replaces an earlier one. Bytes it cannot
 * walk (a length past the end, a varint too long, a wire type protobuf does not have) throw
 * MalformedCheckRequest; what it skips it does not look into. `CHECK_REQUEST_DECODER=protobufjs`
 * decodes with the library instead.
 */
export function readCheckInput(bytes: Buffer): CheckInput {
  const wire = new Wire(bytes);
  const input = new WireCheckInput(bytes);
  let scopes: string | undefined;
  let cost: string | undefined;
  if (wire.last(0, bytes.length, CHECK_REQUEST_ATTRIBUTES)) {
    const end = wire.end;
    let request = false;
    let start = 0;
    let stop = 0;
    wire.pos = wire.start;
    while (wire.pos < end) {
      const field = wire.field(end);
      if (field === ATTRIBUTES_REQUEST) {
        wire.value(end);
        request = true;
        start = wire.start;
        stop = wire.end;
      } else if (field === ATTRIBUTES_CONTEXT_EXTENSIONS) {
        wire.value(end);
        // The two context extensions the check reads; a later entry of a name wins.
        const [keyStart, keyEnd, valueStart, valueEnd] = wire.fields(wire.start, wire.end, 2);
        if (sameText(bytes, keyStart, keyEnd, REQUIRED_SCOPES)) scopes = utf8(bytes, valueStart, valueEnd);
        else if (sameText(bytes, keyStart, keyEnd, COST)) cost = utf8(bytes, valueStart, valueEnd);
      } else {
        wire.skip(end);
      }
    }
    if (request && wire.last(start, stop, REQUEST_HTTP)) input.readHttp(wire);
  }
  input.requiredScopes = parseScopes(scopes);
  if (cost !== undefined) input.cost = parseCost(cost);
  return input;
}

/** A CheckInput over the request's bytes: headers are kept as ranges and decoded when asked for. */
class WireCheckInput implements CheckInput {
  requiredScopes: string[] = [];
  cost?: number;
  /** Key start, key end, value start, value end, for each `headers` map entry in order. */
  private readonly entries: number[] = [];
  /** Key, value and raw value ranges (start, end each), for each `header_map` header in order. */
  private readonly raw: number[] = [];

  constructor(private readonly bytes: Buffer) {}

  /** Reads the HttpRequest at [wire.start, wire.end). */
  readHttp(wire: Wire): void {
    const end = wire.end;
    let headerMap = false;
    let start = 0;
    let stop = 0;
    wire.pos = wire.start;
    while (wire.pos < end) {
      const field = wire.field(end);
      if (field === HTTP_HEADERS) {
        wire.value(end);
        const [keyStart, keyEnd, valueStart, valueEnd] = wire.fields(wire.start, wire.end, 2);
        this.entries.push(keyStart, keyEnd, valueStart, valueEnd);
      } else if (field === HTTP_HEADER_MAP) {
        wire.value(end);
        headerMap = true;
        start = wire.start;
        stop = wire.end;
      } else {
        wire.skip(end);
      }
    }
    if (!headerMap) return;
    wire.pos = start;
    while (wire.pos < stop) {
      if (wire.field(stop) !== HEADER_MAP_HEADERS) {
        wire.skip(stop);
        continue;
      }
      wire.value(stop);
      const [keyStart, keyEnd, valueStart, valueEnd, rawStart, rawEnd] = wire.fields(wire.start, wire.end, 3);
      this.raw.push(keyStart, keyEnd, valueStart, valueEnd, rawStart, rawEnd);
    }
  }

  /**
   * As toCheckInput: the `headers` map when it has an entry (a later entry of a name wins), else the
   * raw headers of that name, compared lower-cased and merged with ",".
   */
  header(name: string): string | undefined {
    const { bytes, entries, raw } = this;
    if (entries.length > 0) {
      for (let i = entries.length - 4; i >= 0; i -= 4) {
        if (sameText(bytes, at(entries, i), at(entries, i + 1), name)) {
          return utf8(bytes, at(entries, i + 2), at(entries, i + 3));
        }
      }
      return undefined;
    }
    let merged: string | undefined;
    for (let i = 0; i < raw.length; i += 6) {
      if (utf8(bytes, at(raw, i), at(raw, i + 1)).toLowerCase() !== name) continue;
      const value =
        at(raw, i + 5) > at(raw, i + 4)
          ? utf8(bytes, at(raw, i + 4), at(raw, i + 5))
          : utf8(bytes, at(raw, i + 2), at(raw, i + 3));
      merged = merged === undefined ? value : `${merged},${value}`;
    }
    return merged;
  }
}

/** An element of a list of ranges, which the reader fills in whole groups. */
function at(ranges: readonly number[], i: number): number {
  return ranges[i] as number;
}

/** Start and end of fields 1, 2 and 3 of a small message. */
type Ranges = [number, number, number, number, number, number];

/**
 * Protobuf's wire format over one message's bytes: a cursor (`pos`) and the range of the last
 * length-delimited value read (`start`, `end`).
 */
class Wire {
  pos = 0;
  start = 0;
  end = 0;
  /** The wire type of the tag field() read last. */
  private wireType = 0;
  /** Ranges of a small message's fields 1, 2, 3 (start, end each), reused by fields(). */
  private readonly ranges: Ranges = [0, 0, 0, 0, 0, 0];

  constructor(private readonly bytes: Buffer) {}

  /** Finds the last occurrence of length-delimited field `field` in [from, to) into start and end. */
  last(from: number, to: number, field: number): boolean {
    let found = false;
    let start = 0;
    let end = 0;
    this.pos = from;
    while (this.pos < to) {
      if (this.field(to) === field) {
        this.value(to);
        found = true;
        start = this.start;
        end = this.end;
      } else {
        this.skip(to);
      }
    }
    this.start = start;
    this.end = end;
    return found;
  }

  /**
   * The ranges of fields 1 to `count` of the message at [from, to), each at [2 × (field − 1)], empty
   * when absent; a later occurrence replaces an earlier one. Valid until the next call.
   */
  fields(from: number, to: number, count: number): Ranges {
    const ranges = this.ranges;
    // A loop rather than fill(): a call into the runtime for six numbers, for every header.
    for (let i = 0; i < 2 * count; i++) ranges[i] = 0;
    this.pos = from;
    while (this.pos < to) {
      const field = this.field(to);
      if (field >= 1 && field <= count) {
        this.value(to);
        ranges[2 * (field - 1)] = this.start;
        ranges[2 * (field - 1) + 1] = this.end;
      } else {
        this.skip(to);
      }
    }
    this.pos = to;
    return ranges;
  }

  /** Reads a tag: its field number, with its wire type kept for skip(). */
  field(to: number): number {
    this.wireType = this.varint(to);
    const field = this.wireType >>> 3;
    this.wireType &= 7;
    return field;
  }

  /**
   * Reads a length-delimited value into start and end. As protobufjs: a field the reader knows is
   * read so whatever its tag's wire type says.
   */
  value(to: number): void {
    const length = this.varint(to);
    this.start = this.pos;
    this.end = this.pos + length;
    if (this.end > to) throw new MalformedCheckRequest("a field runs past the end of its message");
    this.pos = this.end;
  }

  /** Skips the value of the tag just read. */
  skip(to: number): void {
    this.skipType(this.wireType, to);
  }

  private skipType(wireType: number, to: number): void {
    switch (wireType) {
      case 0:
        this.varint(to);
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const length = this.varint(to);
        this.pos += length;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      case 3:
        // A group: fields up to its end tag.
        for (;;) {
          const tag = this.varint(to);
          if ((tag & 7) === 4) return;
          this.skipType(tag & 7, to);
        }
      default:
        throw new MalformedCheckRequest(`wire type ${wireType} is not protobuf's`);
    }
    if (this.pos > to) throw new MalformedCheckRequest("a field runs past the end of its message");
  }

  /** A varint, as protobufjs reads tags and lengths: 32 bits kept, up to 10 bytes long. */
  private varint(to: number): number {
    const pos = this.pos;
    if (pos < to) {
      const byte = this.bytes[pos] as number;
      if (byte < 0x80) {
        this.pos = pos + 1;
        return byte;
      }
    }
    return this.longVarint(to);
  }

  private longVarint(to: number): number {
    const bytes = this.bytes;
    let value = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.pos >= to) throw new MalformedCheckRequest("a varint runs past the end of its message");
      const byte = bytes[this.pos++] as number;
      if (shift < 32) value |= (byte & 0x7f) << shift;
      if (byte < 0x80) return value >>> 0;
    }
    throw new MalformedCheckRequest("a varint is longer than 10 bytes");
  }
}

function utf8(bytes: Buffer, start: number, end: number): string {
  return end > start ? bytes.utf8Slice(start, end) : "";
}

/** Whether bytes [start, end) are `text`, compared byte by byte while `text` is ASCII (header names are). */
function sameText(bytes: Buffer, start: number, end: number, text: string): boolean {
  if (end - start !== text.length) return false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 0x80) return utf8(bytes, start, end) === text;
    if (bytes[start + i] !== c) return false;
  }
  return true;
}

declare module "node:buffer" {
  interface Buffer {
    /** Node's own UTF-8 decoder, as Buffer.toString("utf8", …) calls it, without the argument checks. */
    utf8Slice(start: number, end: number): string;
  }
}
