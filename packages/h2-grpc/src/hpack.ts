/**
 * HPACK (RFC 7541): a decoder with the dynamic table (used by the server for requests and by the
 * benchmark's client for answers), literal-field encoding for the server's answers, and the
 * repeated-header encoding the benchmark's client sends as Envoy does.
 */

/** A header block that cannot be decoded: the connection's table can no longer be trusted. */
export class HpackError extends Error {}

export type HeaderList = ReadonlyArray<readonly [name: string, value: string]>;

// RFC 7541 Appendix A.
const STATIC_TABLE: HeaderList = [
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];

// RFC 7541 Appendix B gives the code lengths of symbols 0..255 (then EOS, 30 bits). The code is
// canonical, so the codes themselves follow from the lengths; `assertKnownCodes` checks a few against
// the RFC.
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28,
  28, 28, 28, 28, 28, 6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7,
  8, 15, 6, 12, 10, 13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19,
  13, 14, 6, 15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13,
  28, 20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21,
  22, 23, 22, 23, 23, 24, 22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23,
  22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23, 26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27, 20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25,
  25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26, 30,
];
const EOS = 256;
const MAX_CODE_LENGTH = 30;

interface CanonicalCode {
  /** First code of each length. */
  first: number[];
  /** Number of codes of each length. */
  count: number[];
  /** Where each length's symbols start in `symbols`. */
  offset: number[];
  /** Symbols ordered by (length, symbol). */
  symbols: number[];
}

function buildCanonicalCode(): CanonicalCode {
  const symbols = CODE_LENGTHS.map((_, symbol) => symbol).sort(
    (a, b) => (CODE_LENGTHS[a] ?? 0) - (CODE_LENGTHS[b] ?? 0) || a - b,
  );
  const first: number[] = [];
  const count: number[] = [];
  const offset: number[] = [];
  let code = 0;
  let index = 0;
  for (let length = 0; length <= MAX_CODE_LENGTH; length++) {
    let n = 0;
    while (index + n < symbols.length && CODE_LENGTHS[symbols[index + n] ?? 0] === length) n++;
    first.push(code);
    count.push(n);
    offset.push(index);
    index += n;
    code = (code + n) * 2;
  }
  return { first, count, offset, symbols };
}

const HUFFMAN = buildCanonicalCode();

function codeOf(symbol: number): number {
  const length = CODE_LENGTHS[symbol] ?? 0;
  const rank = HUFFMAN.symbols.indexOf(symbol) - (HUFFMAN.offset[length] ?? 0);
  return (HUFFMAN.first[length] ?? 0) + rank;
}

// Spot checks against RFC 7541 Appendix B: a wrong table would misread every header silently.
function assertKnownCodes(): void {
  const known: Array<[symbol: number, code: number]> = [
    [0, 0x1ff8],
    [32, 0x14],
    [48, 0x0],
    [97, 0x3],
    [128, 0xfffe6],
    [255, 0x3ffffee],
    [EOS, 0x3fffffff],
  ];
  for (const [symbol, code] of known) {
    if (codeOf(symbol) !== code) throw new Error(`HPACK Huffman table is wrong at symbol ${symbol}`);
  }
}
assertKnownCodes();

function huffmanDecode(buf: Buffer, start: number, end: number): string {
  let out = "";
  let code = 0;
  let length = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i] ?? 0;
    for (let bit = 7; bit >= 0; bit--) {
      code = code * 2 + ((byte >> bit) & 1);
      length++;
      const rank = code - (HUFFMAN.first[length] ?? 0);
      if (rank >= 0 && rank < (HUFFMAN.count[length] ?? 0)) {
        const symbol = HUFFMAN.symbols[(HUFFMAN.offset[length] ?? 0) + rank] ?? EOS;
        if (symbol === EOS) throw new HpackError("HPACK: EOS inside a Huffman string");
        out += String.fromCharCode(symbol);
        code = 0;
        length = 0;
      } else if (length >= MAX_CODE_LENGTH) {
        throw new HpackError("HPACK: invalid Huffman code");
      }
    }
  }
  // What is left must be padding: fewer than 8 bits, all ones (a prefix of EOS).
  if (length > 7 || code !== (1 << length) - 1) throw new HpackError("HPACK: invalid Huffman padding");
  return out;
}

/** True when `block` holds `bytes` at `start`. */
function sameBytes(bytes: Buffer, block: Buffer, start: number): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== block[start + i]) return false;
  return true;
}

function encodeInteger(value: number, prefixBits: number, firstByteFlags: number): number[] {
  const max = 2 ** prefixBits - 1;
  if (value < max) return [firstByteFlags | value];
  const bytes = [firstByteFlags | max];
  let rest = value - max;
  while (rest >= 128) {
    bytes.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  bytes.push(rest);
  return bytes;
}

function encodeString(text: string): number[] {
  const bytes = Buffer.from(text, "latin1");
  return [...encodeInteger(bytes.length, 7, 0), ...bytes];
}

/** The Huffman code of each byte, from the canonical table above. */
const CODES = Array.from({ length: 256 }, (_, symbol) => codeOf(symbol));

/** `text` Huffman-coded (RFC 7541 5.2), padded with the most significant bits of EOS (all ones). */
export function huffmanEncode(text: string): Buffer {
  const out: number[] = [];
  let bits = 0;
  let pending = 0;
  for (const byte of Buffer.from(text, "latin1")) {
    const length = CODE_LENGTHS[byte] ?? 0;
    // At most 7 pending bits plus a 30-bit code: past 2^31, so the pending bits are kept as a
    // number below 2^37 and taken a byte at a time with division, not 32-bit shifts.
    pending = pending * (1 << length) + (CODES[byte] ?? 0);
    bits += length;
    while (bits >= 8) {
      bits -= 8;
      const divisor = 2 ** bits;
      out.push(Math.floor(pending / divisor));
      pending %= divisor;
    }
  }
  if (bits > 0) out.push((pending << (8 - bits)) | ((1 << (8 - bits)) - 1));
  return Buffer.from(out);
}

/** A string as nghttp2 sends it: Huffman-coded when that is shorter, else as is. */
function encodeShorterString(text: string): number[] {
  const coded = huffmanEncode(text);
  if (coded.length >= Buffer.byteLength(text, "latin1")) return encodeString(text);
  return [...encodeInteger(coded.length, 7, 0x80), ...coded];
}

/**
 * One field as a literal without indexing (RFC 7541 6.2.2), naming a static-table entry when one
 * has the name: nothing enters the peer's table, so answers need no encoder state per connection.
 */
export function encodeLiteralField(name: string, value: string): Buffer {
  return Buffer.from(literalField(name, value, encodeString));
}

function literalField(name: string, value: string, encode: (text: string) => number[]): number[] {
  const named = STATIC_TABLE.findIndex(([n]) => n === name);
  const head = named >= 0 ? encodeInteger(named + 1, 4, 0) : [0, ...encode(name)];
  return [...head, ...encode(value)];
}

/** The static-table index of an exact field, for one-byte fields such as `:status: 200`. */
export function encodeIndexedField(name: string, value: string): Buffer {
  const exact = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
  if (exact < 0) throw new Error(`${name}: ${value} is not in the HPACK static table`);
  return Buffer.from(encodeInteger(exact + 1, 7, 0x80));
}

/**
 * Fields nghttp2's encoder never adds to the dynamic table (`hd_deflate_should_indexing`), whatever
 * their size: sent as literals without indexing on every request.
 */
const NEVER_INDEXED_BY_NGHTTP2 = new Set([
  ":path",
  "age",
  "content-length",
  "etag",
  "if-modified-since",
  "if-none-match",
  "location",
  "set-cookie",
]);

/**
 * The header blocks for a connection that sends the same headers on every request, as Envoy's
 * ext_authz client (nghttp2) does: the first block adds each field to the peer's dynamic table
 * (literal with incremental indexing), every later block is one index byte per field; except the
 * fields nghttp2 never indexes, `:path` among them, which every block carries as a literal without
 * indexing naming the static entry. Strings are Huffman-coded when that is shorter, as nghttp2 codes
 * them. The peer then decodes what it would decode from Envoy.
 */
export function encodeRepeatedHeaders(headers: HeaderList): { first: Buffer; repeat: Buffer } {
  const first: number[] = [];
  const inserted: Array<readonly [string, string]> = [];
  const literal = (name: string, value: string) => literalField(name, value, encodeShorterString);
  for (const [name, value] of headers) {
    const exact = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (exact >= 0) {
      first.push(...encodeInteger(exact + 1, 7, 0x80));
      continue;
    }
    if (NEVER_INDEXED_BY_NGHTTP2.has(name)) {
      first.push(...literal(name, value));
      continue;
    }
    const named = STATIC_TABLE.findIndex(([n]) => n === name);
    if (named >= 0) first.push(...encodeInteger(named + 1, 6, 0x40));
    else first.push(0x40, ...encodeShorterString(name));
    first.push(...encodeShorterString(value));
    inserted.push([name, value]);
  }
  const repeat: number[] = [];
  for (const [name, value] of headers) {
    const exact = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (exact < 0 && NEVER_INDEXED_BY_NGHTTP2.has(name)) {
      repeat.push(...literal(name, value));
      continue;
    }
    // The newest entry has the lowest dynamic index (62), so insertion order reverses.
    const index =
      exact >= 0
        ? exact + 1
        : STATIC_TABLE.length + inserted.length - inserted.findIndex(([n, v]) => n === name && v === value);
    repeat.push(...encodeInteger(index, 7, 0x80));
  }
  return { first: Buffer.from(first), repeat: Buffer.from(repeat) };
}

/** Huffman strings a decoder remembers, and the longest it remembers (bytes). */
const RECENT_STRINGS = 4;
const MAX_RECENT_LENGTH = 128;

/** One decoding context per connection, as HPACK requires. */
export class HpackDecoder {
  private dynamic: Array<readonly [string, string]> = [];
  private dynamicSize = 0;
  private maxSize: number;
  /**
   * The last few Huffman strings decoded, by their bytes. A client sends a field it does not index
   * as the same bytes on every request, and nghttp2 (h2load, Node's http2 client, Envoy's nghttp2
   * codec) never indexes `:path`. Decoding it each time, and flattening and hashing the new string,
   * was about a tenth of the service's CPU with h2load; remembered, the same string comes back.
   */
  private recent: Array<{ bytes: Buffer; text: string }> = [];
  private nextRecent = 0;

  /** `maxSize` is what we announced in SETTINGS_HEADER_TABLE_SIZE. */
  constructor(private readonly settingsMaxSize: number) {
    this.maxSize = settingsMaxSize;
  }

  /**
   * A gRPC server repeats the same fields, so after the first response nearly every field is a
   * one-byte reference to the dynamic table and decoding costs next to nothing.
   */
  decode(block: Buffer): HeaderList {
    this.block = block;
    this.at = 0;
    const headers: Array<readonly [string, string]> = [];
    while (this.at < block.length) {
      const byte = block[this.at] ?? 0;
      if (byte & 0x80) {
        headers.push(this.entry(this.readInteger(7)));
      } else if ((byte & 0xc0) === 0x40) {
        const index = this.readInteger(6);
        const name = index === 0 ? this.readString() : this.entry(index)[0];
        const field = [name, this.readString()] as const;
        headers.push(field);
        this.insert(field);
      } else if ((byte & 0xe0) === 0x20) {
        const size = this.readInteger(5);
        if (size > this.settingsMaxSize) throw new HpackError("HPACK: table size update above our setting");
        this.maxSize = size;
        this.evict();
      } else {
        const index = this.readInteger(4);
        const name = index === 0 ? this.readString() : this.entry(index)[0];
        headers.push([name, this.readString()]);
      }
    }
    return headers;
  }

  // The block being decoded and the position in it: fields rather than closures, so decoding a
  // block allocates nothing but the header list.
  private block: Buffer = Buffer.alloc(0);
  private at = 0;

  private readInteger(prefixBits: number): number {
    const block = this.block;
    // A shift, not 2 ** prefixBits: V8 calls pow() for an exponent it cannot see.
    const max = (1 << prefixBits) - 1;
    let value = (block[this.at++] ?? 0) & max;
    if (value < max) return value;
    let factor = 1;
    for (;;) {
      if (this.at >= block.length) throw new HpackError("HPACK: truncated integer");
      const byte = block[this.at++] ?? 0;
      value += (byte & 0x7f) * factor;
      factor *= 128;
      if ((byte & 0x80) === 0) return value;
      if (factor > 2 ** 28) throw new HpackError("HPACK: integer too large");
    }
  }

  private readString(): string {
    const block = this.block;
    const huffman = ((block[this.at] ?? 0) & 0x80) !== 0;
    const length = this.readInteger(7);
    const start = this.at;
    const end = start + length;
    if (end > block.length) throw new HpackError("HPACK: truncated string");
    this.at = end;
    return huffman ? this.huffman(block, start, end) : block.toString("latin1", start, end);
  }

  private huffman(block: Buffer, start: number, end: number): string {
    const length = end - start;
    if (length > MAX_RECENT_LENGTH) return huffmanDecode(block, start, end);
    for (const seen of this.recent) {
      if (seen.bytes.length === length && sameBytes(seen.bytes, block, start)) return seen.text;
    }
    const text = huffmanDecode(block, start, end);
    const entry = { bytes: Buffer.from(block.subarray(start, end)), text };
    if (this.recent.length < RECENT_STRINGS) this.recent.push(entry);
    else this.recent[this.nextRecent] = entry;
    this.nextRecent = (this.nextRecent + 1) % RECENT_STRINGS;
    return text;
  }

  private entry(index: number): readonly [string, string] {
    const found =
      index <= STATIC_TABLE.length ? STATIC_TABLE[index - 1] : this.dynamic[index - 1 - STATIC_TABLE.length];
    if (!found) throw new HpackError(`HPACK: no table entry ${index}`);
    return found;
  }

  private insert(field: readonly [string, string]): void {
    this.dynamic.unshift(field);
    this.dynamicSize += field[0].length + field[1].length + 32;
    this.evict();
  }

  private evict(): void {
    while (this.dynamicSize > this.maxSize) {
      const last = this.dynamic.pop();
      if (!last) break;
      this.dynamicSize -= last[0].length + last[1].length + 32;
    }
  }
}
