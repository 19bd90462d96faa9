import {
  authMessageType,
  type CheckRequest,
  type CheckRequest__Output,
  loadEnvoyServices,
} from "@gateway/proto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { CheckInput } from "../src/authz/check-key.js";
import { toCheckInput } from "../src/grpc/authorization-service.js";
import { MalformedCheckRequest, readCheckInput } from "../src/grpc/check-request-reader.js";
import { bearer, envoyCheckRequest } from "./envoy.js";

const serialize = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check.requestSerialize;
const CheckRequestType = authMessageType("envoy.service.auth.v3.CheckRequest");
const HttpRequestType = authMessageType("envoy.service.auth.v3.AttributeContext.HttpRequest");

/** The fallback: the whole message decoded by protobufjs, then read as the service always read it. */
const library = (bytes: Buffer): CheckInput =>
  toCheckInput(CheckRequestType.decode(bytes) as unknown as CheckRequest__Output);

/** Header names the check asks for, and names near them. */
const ASKED = ["authorization", "x-api-key", "x-gateway-token", "authorizatio", "x-api-keys", ""];

/** What the check sees of an input: the headers it may ask for, the scopes and the cost. */
function view(input: CheckInput, names: readonly string[]) {
  return {
    headers: Object.fromEntries([...ASKED, ...names].map((name) => [name, input.header(name)])),
    requiredScopes: input.requiredScopes,
    cost: input.cost,
  };
}

/** Names as Envoy sends them (lower case) and as raw headers may carry them (any case). */
const headerName = fc.oneof(
  fc.constantFrom("authorization", "x-api-key", "x-gateway-token", ":path", "user-agent"),
  fc.stringMatching(/^[a-zA-Z][a-zA-Z0-9-]{0,20}$/),
);
const headerValue = fc.oneof(fc.string(), fc.string({ unit: "grapheme" }), fc.constant(""));
// Object.prototype's names behave oddly in the library's plain-object maps and are no header a check
// asks for.
const isPlain = (name: string) => !(name.toLowerCase() in {}) && name.toLowerCase() !== "__proto__";

const extensions = fc.dictionary(
  fc.oneof(fc.constantFrom("cost", "required_scopes", "other"), fc.string({ maxLength: 8 })),
  fc.oneof(fc.constantFrom("3", "0", "x", "read,write", "read write"), fc.string({ maxLength: 12 })),
  { maxKeys: 4 },
);

const request = fc.record(
  {
    headers: fc.dictionary(headerName, headerValue, { maxKeys: 12 }),
    raw: fc.array(
      fc.record({
        key: headerName,
        value: fc.option(headerValue, { nil: undefined }),
        raw: fc.option(fc.uint8Array({ maxLength: 24 }), { nil: undefined }),
      }),
      { maxLength: 8 },
    ),
    extensions,
    path: fc.string(),
    id: fc.string({ maxLength: 20 }),
    body: fc.string({ maxLength: 40 }),
    source: fc.ipV4(),
  },
  { requiredKeys: [] },
);

type Generated = typeof request extends fc.Arbitrary<infer T> ? T : never;

function build(g: Generated): CheckRequest {
  const headers = Object.fromEntries(Object.entries(g.headers ?? {}).filter(([name]) => isPlain(name)));
  return {
    attributes: {
      source: g.source ? { address: { socket_address: { address: g.source, port_value: 443 } } } : undefined,
      request: {
        http: {
          id: g.id,
          method: "POST",
          path: g.path,
          body: g.body,
          headers,
          header_map: g.raw
            ? {
                headers: g.raw
                  .filter(({ key }) => isPlain(key))
                  .map(({ key, value, raw }) => ({ key, value, raw_value: raw && Buffer.from(raw) })),
              }
            : undefined,
        },
      },
      context_extensions: Object.fromEntries(
        Object.entries(g.extensions ?? {}).filter(([name]) => isPlain(name)),
      ),
    },
  };
}

const namesOf = (g: Generated) =>
  [...Object.keys(g.headers ?? {}), ...(g.raw ?? []).map(({ key }) => key.toLowerCase())].filter(isPlain);

/** A protobuf field: tag, then a length-delimited value. */
function field(number: number, value: Uint8Array): Buffer {
  return Buffer.concat([varint((number << 3) | 2), varint(value.length), value]);
}

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Fields no reader here knows: a varint, a fixed64, a length-delimited value, a group, a fixed32. */
const unknownFields = fc
  .array(
    fc.oneof(
      fc.nat().map((n) => Buffer.concat([varint((900 << 3) | 0), varint(n)])),
      fc.constant(Buffer.concat([varint((901 << 3) | 1), Buffer.alloc(8, 7)])),
      fc.uint8Array({ maxLength: 10 }).map((bytes) => field(902, bytes)),
      fc.constant(
        Buffer.concat([varint((903 << 3) | 3), varint((1 << 3) | 0), varint(5), varint((903 << 3) | 4)]),
      ),
      fc.constant(Buffer.concat([varint((904 << 3) | 5), Buffer.alloc(4, 1)])),
    ),
    { maxLength: 3 },
  )
  .map((parts) => Buffer.concat(parts));

describe("readCheckInput", () => {
  test("reads what toCheckInput reads from the whole decoded message, for any request an encoder writes", () => {
    fc.assert(
      fc.property(request, (g) => {
        const bytes = serialize(build(g));
        expect(view(readCheckInput(bytes), namesOf(g))).toEqual(view(library(bytes), namesOf(g)));
      }),
      { numRuns: 500 },
    );
  });

  test("as the library: repeated messages replace, repeated map entries accumulate, unknown fields are skipped", () => {
    fc.assert(
      fc.property(request, request, unknownFields, unknownFields, (a, b, before, inside) => {
        // Two messages one after the other, as protobuf merges them, with unknown fields around.
        const merged = Buffer.concat([before, serialize(build(a)), serialize(build(b)), before]);
        const names = [...namesOf(a), ...namesOf(b)];
        expect(view(readCheckInput(merged), names)).toEqual(view(library(merged), names));
        // Unknown fields inside the HttpRequest, and its headers map entries split over two occurrences.
        const http = build(a).attributes?.request?.http ?? {};
        const httpBytes = Buffer.concat([
          inside,
          Buffer.from(HttpRequestType.encode(HttpRequestType.fromObject(http)).finish()),
          inside,
          Buffer.from(
            HttpRequestType.encode(
              HttpRequestType.fromObject({ headers: { "x-api-key": "later" } }),
            ).finish(),
          ),
        ]);
        const nested = field(
          1,
          Buffer.concat([inside, field(4, Buffer.concat([field(2, httpBytes), inside]))]),
        );
        const nestedNames = [...namesOf(a), "x-api-key"];
        expect(view(readCheckInput(nested), nestedNames)).toEqual(view(library(nested), nestedNames));
      }),
      { numRuns: 300 },
    );
  });

  test("reads the requests the service's tests send", () => {
    const cases = [
      envoyCheckRequest({ headers: bearer("gw_key") }),
      envoyCheckRequest({ headers: bearer("gw_key"), rawHeaders: true }),
      envoyCheckRequest({
        headers: { "x-api-key": " gw_key " },
        contextExtensions: { cost: "3", required_scopes: "a b" },
      }),
      {},
      { attributes: {} },
    ];
    for (const c of cases) {
      const bytes = serialize(c);
      expect(view(readCheckInput(bytes), [])).toEqual(view(library(bytes), []));
    }
  });

  test("bytes that are no message throw MalformedCheckRequest and nothing else, and never read past the end", () => {
    const valid = serialize(envoyCheckRequest({ headers: bearer("gw_key") }));
    const damaged = fc.oneof(
      fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.from(bytes)),
      fc.nat({ max: valid.length - 1 }).map((n) => valid.subarray(0, n)),
      fc
        .tuple(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }))
        .map(([at, byte]) => Buffer.from(valid).fill(byte, at, at + 1)),
    );
    fc.assert(
      fc.property(damaged, (bytes) => {
        // A view of a larger buffer: reading past its end would find these bytes.
        const padded = Buffer.concat([bytes, Buffer.from("\nauthorization: Bearer gw_past")]).subarray(
          0,
          bytes.length,
        );
        try {
          const input = readCheckInput(padded);
          for (const name of ASKED) expect(input.header(name) ?? "").not.toContain("gw_past");
        } catch (err) {
          expect(err).toBeInstanceOf(MalformedCheckRequest);
        }
      }),
      { numRuns: 2_000 },
    );
    expect(() => readCheckInput(Buffer.from([0x0a, 0x05, 0x01]))).toThrow(MalformedCheckRequest);
    expect(() => readCheckInput(Buffer.from([0x17]))).toThrow(/wire type 7/);
    expect(() =>
      readCheckInput(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])),
    ).toThrow(/longer than 10 bytes/);
  });
});
