import { describe, expect, test } from "vitest";
import { encodeRepeatedHeaders, HpackDecoder, HpackError, huffmanEncode } from "../src/hpack.js";

// Huffman-coded strings from RFC 7541, Appendix C.4 and C.6.
const WWW_EXAMPLE_COM = "f1e3c2e5f23a6ba0ab90f4ff";
const NO_CACHE = "a8eb10649cbf";
const DATE_21 = "d07abe941054d444a8200595040b8166e082a62d1bff"; // Mon, 21 Oct 2013 20:13:21 GMT
const DATE_22 = "d07abe941054d444a8200595040b8166e084a62d1bff"; // … 20:13:22 GMT: one byte differs

/** A literal field without indexing (RFC 7541 6.2.2) naming static entry `nameIndex`, its value Huffman-coded. */
function literal(nameIndex: number, huffmanHex: string): Buffer {
  const value = Buffer.from(huffmanHex, "hex");
  // The index in a 4-bit prefix (RFC 7541 5.1); every index here is below 15 + 128.
  const name = nameIndex < 15 ? [nameIndex] : [15, nameIndex - 15];
  return Buffer.concat([Buffer.from([...name, 0x80 | value.length]), value]);
}

const PATH = 4; // :path
const DATE = 33; // date

describe("HPACK Huffman strings", () => {
  test("a literal repeated on every block decodes the same each time", () => {
    const decoder = new HpackDecoder(4096);
    const block = literal(PATH, WWW_EXAMPLE_COM);
    for (let i = 0; i < 3; i++) expect(decoder.decode(block)).toEqual([[":path", "www.example.com"]]);
  });

  test("strings of the same length that differ in one byte are told apart, however they alternate", () => {
    const decoder = new HpackDecoder(4096);
    const sequence = [DATE_21, DATE_22, DATE_22, DATE_21, NO_CACHE, WWW_EXAMPLE_COM, DATE_22, DATE_21];
    const expected: Record<string, string> = {
      [DATE_21]: "Mon, 21 Oct 2013 20:13:21 GMT",
      [DATE_22]: "Mon, 21 Oct 2013 20:13:22 GMT",
      [NO_CACHE]: "no-cache",
      [WWW_EXAMPLE_COM]: "www.example.com",
    };
    for (const hex of sequence) expect(decoder.decode(literal(DATE, hex))).toEqual([["date", expected[hex]]]);
  });

  test("more distinct strings than it remembers still decode right", () => {
    const decoder = new HpackDecoder(4096);
    const all = [WWW_EXAMPLE_COM, NO_CACHE, DATE_21, DATE_22];
    const text = [
      "www.example.com",
      "no-cache",
      "Mon, 21 Oct 2013 20:13:21 GMT",
      "Mon, 21 Oct 2013 20:13:22 GMT",
    ];
    for (let round = 0; round < 3; round++) {
      for (const [i, hex] of all.entries()) {
        // An uncached string between each: the remembered ones are pushed out in turn.
        expect(decoder.decode(literal(PATH, hex))).toEqual([[":path", text[i]]]);
        expect(decoder.decode(literal(PATH, round % 2 ? NO_CACHE : WWW_EXAMPLE_COM))[0]?.[1]).toMatch(
          /^(no-cache|www\.example\.com)$/,
        );
      }
    }
  });

  test("a bad Huffman string is refused every time, never remembered", () => {
    const decoder = new HpackDecoder(4096);
    // EOS padding longer than 7 bits.
    const bad = literal(PATH, "f1e3c2e5f23a6ba0ab90f4ffff");
    expect(() => decoder.decode(bad)).toThrow(HpackError);
    expect(() => decoder.decode(bad)).toThrow(HpackError);
  });
});

describe("HPACK encoding as nghttp2 does it", () => {
  test("Huffman-codes RFC 7541's examples to the RFC's bytes", () => {
    expect(huffmanEncode("www.example.com").toString("hex")).toBe(WWW_EXAMPLE_COM);
    expect(huffmanEncode("no-cache").toString("hex")).toBe(NO_CACHE);
    expect(huffmanEncode("Mon, 21 Oct 2013 20:13:21 GMT").toString("hex")).toBe(DATE_21);
    expect(huffmanEncode("custom-key").toString("hex")).toBe("25a849e95ba97d7f");
    expect(huffmanEncode("custom-value").toString("hex")).toBe("25a849e95bb8e8b4bf");
  });

  test("every byte value survives a Huffman round trip through the decoder", () => {
    const decoder = new HpackDecoder(4096);
    for (let from = 0; from < 256; from += 16) {
      const text = Buffer.from(Array.from({ length: 16 }, (_, i) => from + i)).toString("latin1");
      expect(decoder.decode(literal(PATH, huffmanEncode(text).toString("hex")))).toEqual([[":path", text]]);
    }
  });

  test("a connection's repeated blocks index every field but :path, which each block carries as a literal", () => {
    const headers = [
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/envoy.service.auth.v3.Authorization/Check"],
      [":authority", "127.0.0.1:9001"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ] as const;
    const { first, repeat } = encodeRepeatedHeaders(headers);
    const decoder = new HpackDecoder(4096);
    expect(decoder.decode(first)).toEqual(headers);
    for (let i = 0; i < 3; i++) expect(decoder.decode(repeat)).toEqual(headers);
    // :method and :scheme are static indices, :path a literal without indexing (name index 4, a
    // Huffman-coded value), then one index byte each for the three fields the first block added.
    const path = huffmanEncode(headers[2][1]);
    expect(repeat).toEqual(Buffer.from([0x83, 0x86, 0x04, 0x80 | path.length, ...path, 0xc0, 0xbf, 0xbe]));
  });
});
