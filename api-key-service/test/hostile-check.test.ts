import http2 from "node:http2";
import net from "node:net";
import { createRedisClient } from "@gateway/common";
import { encodeRepeatedHeaders, frames as F } from "@gateway/h2-grpc";
import {
  AUTHORIZATION_CHECK_PATH,
  type CheckRequest,
  type CheckResponse__Output,
  loadEnvoyServices,
} from "@gateway/proto";
import { grpcHeaders, grpcPrefix, type RawGrpcAnswer, rawGrpcCall } from "@gateway/testing";
import fc from "fast-check";
import { BASE62 } from "../src/ids.js";
import { bearer, envoyCheckRequest, headerMap, metadataOf } from "./envoy.js";
import { type Api, counterTotal, describe, expect, GRPC_SERVERS, test } from "./fixtures.js";

/**
 * Hostile input to ext_authz, generated: whatever a client (through Envoy) or anything else that can
 * reach the gRPC port sends, the service answers with a well-formed denial or a gRPC error, never
 * crashes, looks up nothing for a malformed key, writes nothing and keeps its memory.
 */

/** Inputs sent, shrinking included, and what became of them: the figures the docs quote. */
let tried = 0;
const outcomes: Record<string, number> = {};
const tally = (outcome: string) => {
  outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
};

// --- generated pieces of a CheckRequest -------------------------------------------------------

/** Characters that break naive parsers: controls, separators, lone surrogates, BOM, RTL, emoji. */
const nastyChar = fc.constantFrom(
  "\u0000",
  "\r",
  "\n",
  "\t",
  "\u007f",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u202e",
  "\ufeff",
  "\ud800",
  "\udfff",
  "😀",
  ",",
  " ",
  ";",
  '"',
  "\\",
  "%",
  "=",
);
const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "grapheme", maxLength: 30 }) },
  { weight: 2, arbitrary: fc.string({ unit: "binary", maxLength: 30 }) },
  {
    weight: 3,
    arbitrary: fc.string({ unit: fc.oneof(nastyChar, fc.string({ maxLength: 3 })), maxLength: 30 }),
  },
  // Envoy accepts request headers up to 60 KB by default (max_request_headers_kb).
  { weight: 1, arbitrary: fc.nat({ max: 64 * 1024 }).map((n) => "A".repeat(n)) },
);
const headerName = fc.oneof(
  fc.constantFrom(
    "authorization",
    "x-api-key",
    "Authorization",
    "X-API-KEY",
    "__proto__",
    "constructor",
    "toString",
    ":path",
    "",
  ),
  fc.string({ unit: "grapheme-ascii", maxLength: 20 }).map((s) => s.toLowerCase()),
  text,
);
const base62Char = fc.constantFrom(...BASE62);
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(String);

/**
 * Credentials that must never reach the key store: random text, Bearer with random text, keys of the
 * right shape with a wrong checksum, and a real key with one character changed (CRC32 catches every
 * single-character change, so these are all malformed), truncated, extended or doubled.
 */
function malformedCredential(realKey: string): fc.Arbitrary<string> {
  const shapedKey = fc
    .tuple(
      fc.string({ unit: base62Char, minLength: 32, maxLength: 32 }),
      fc.string({ unit: base62Char, minLength: 6, maxLength: 6 }),
    )
    .map(([body, sum]) => `gw_${body}${sum}`);
  const oneCharChanged = fc
    .tuple(fc.nat({ max: realKey.length - 1 }), fc.nat({ max: BASE62.length - 1 }))
    .map(([at, pick]) => {
      const current = realKey[at] as string;
      let replacement = BASE62[pick] as string;
      if (replacement === current) replacement = BASE62[(pick + 1) % BASE62.length] as string;
      return realKey.slice(0, at) + replacement + realKey.slice(at + 1);
    });
  const mangled = fc.oneof(
    fc.nat({ max: realKey.length - 1 }).map((n) => realKey.slice(0, n)),
    fc.string({ unit: base62Char, minLength: 1, maxLength: 4 }).map((extra) => realKey + extra),
    fc.constant(`${realKey},${realKey}`),
    fc.constant(`sk_${realKey.slice(3)}`),
    fc.constant(realKey.toUpperCase()),
    nastyChar.map((c) => `${realKey.slice(0, 10)}${c}${realKey.slice(10)}`),
  );
  const key = fc.oneof(shapedKey, oneCharChanged, mangled, text);
  return fc.oneof(
    key,
    key.map((k) => `Bearer ${k}`),
    fc
      .tuple(fc.constantFrom("bearer", "BEARER", "Bearer\t", "Bearer  ", "Basic ", "Token "), key)
      .map(([scheme, k]) => `${scheme}${k}`),
    text.map((t) => `Bearer ${t}`),
  );
}

const socketAddress = fc.record(
  {
    socket_address: fc.record(
      { address: text, port_value: fc.nat({ max: 2 ** 32 - 1 }) },
      { requiredKeys: [] },
    ),
  },
  { requiredKeys: [] },
);
const peer = fc.record(
  {
    address: socketAddress,
    service: text,
    labels: fc.dictionary(text, text, { maxKeys: 4 }),
    principal: text,
  },
  { requiredKeys: [] },
);
const structValue = fc.oneof(
  text.map((s) => ({ stringValue: s })),
  fc.double().map((n) => ({ numberValue: n })),
  fc.boolean().map((b) => ({ boolValue: b })),
);
const contextExtensions = fc.dictionary(fc.oneof(fc.constant("required_scopes"), text), text, {
  maxKeys: 5,
});

interface GeneratedHeaders {
  raw: boolean;
  entries: [string, string | Uint8Array][];
}

/** Request headers as a map (Envoy's default) or as header_map with raw bytes (encode_raw_headers). */
function requestHeaders(credential: fc.Arbitrary<string>): fc.Arbitrary<GeneratedHeaders> {
  const credentialHeader = fc.tuple(fc.constantFrom("authorization", "x-api-key"), credential);
  const many = fc.nat({ max: 3_000 }).map((n) => Array.from({ length: n }, (_, i) => [`x-h-${i}`, `v${i}`]));
  const entries = fc
    .tuple(
      fc.array(fc.tuple(headerName, text), { maxLength: 12 }),
      fc.oneof(
        { weight: 3, arbitrary: credentialHeader.map((h) => [h]) },
        { weight: 1, arbitrary: fc.array(credentialHeader, { minLength: 2, maxLength: 3 }) },
        { weight: 1, arbitrary: fc.constant([]) },
      ),
      fc.oneof({ weight: 9, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: many }),
    )
    .chain(([random, credentials, bulk]) =>
      fc
        .shuffledSubarray([...random, ...credentials], { minLength: random.length + credentials.length })
        .map((shuffled) => [...shuffled, ...(bulk as [string, string][])]),
    );
  const rawValue = fc.oneof(
    fc.uint8Array({ maxLength: 64 }),
    // Valid-looking prefix, then bytes that are not UTF-8.
    fc.uint8Array({ maxLength: 16 }).map((tail) => Buffer.concat([Buffer.from("Bearer gw_"), tail])),
  );
  return fc.oneof(
    entries.map((e) => ({ raw: false, entries: e })),
    fc
      .tuple(entries, fc.array(fc.tuple(headerName, rawValue), { maxLength: 4 }))
      .map(([e, bytes]) => ({ raw: true, entries: [...e, ...bytes] })),
  );
}

function checkRequestArbitrary(credential: fc.Arbitrary<string>) {
  const http = fc.record(
    {
      id: text,
      method: text,
      path: text,
      host: text,
      scheme: text,
      query: text,
      fragment: text,
      size: int64,
      protocol: text,
      body: text,
      raw_body: fc.uint8Array({ maxLength: 64 }),
    },
    { requiredKeys: [] },
  );
  const time = fc.record(
    { seconds: int64, nanos: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }) },
    { requiredKeys: [] },
  );
  const attributes = fc.record(
    {
      source: peer,
      destination: peer,
      request: fc.record({ time, http }, { requiredKeys: [] }),
      context_extensions: contextExtensions,
      metadata_context: fc.record({
        filter_metadata: fc.dictionary(text, fc.record({ fields: fc.dictionary(text, structValue) }), {
          maxKeys: 2,
        }),
      }),
      tls_session: fc.record({ sni: text }),
    },
    { requiredKeys: [] },
  );
  return fc
    .tuple(
      fc.option(attributes, { freq: 10 }),
      requestHeaders(credential),
      fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
    )
    .map(([attrs, headers, withHeaders]) => {
      const request: CheckRequest = attrs === null ? {} : { attributes: structuredClone(attrs) };
      if (withHeaders && request.attributes) {
        const att = request.attributes;
        att.request ??= {};
        att.request.http ??= {};
        if (headers.raw) {
          att.request.http.header_map = {
            headers: headers.entries.map(([key, value]) =>
              typeof value === "string" ? { key, value } : { key, raw_value: Buffer.from(value) },
            ),
          };
        } else {
          const map: Record<string, string> = {};
          for (const [key, value] of headers.entries) {
            if (typeof value !== "string") continue;
            // Envoy merges repeated headers with ","; __proto__ and friends stay plain own keys.
            const merged = Object.hasOwn(map, key) ? `${map[key]},${value}` : value;
            Object.defineProperty(map, key, { value: merged, enumerable: true, writable: true });
          }
          att.request.http.headers = map;
        }
      }
      return { request, headers: withHeaders && request.attributes ? headers : null };
    });
}

/** True when some header could carry a credential, as the service reads them (by lower-case name). */
function namesCredentialHeader(headers: GeneratedHeaders | null): boolean {
  if (!headers) return false;
  const credentialNames = ["authorization", "x-api-key"];
  return headers.entries.some(([name]) => credentialNames.includes(headers.raw ? name.toLowerCase() : name));
}

/** A denial Envoy can turn into a local reply: non-zero status, 401 or 403, a JSON error body. */
function expectWellFormedDenial(response: CheckResponse__Output): string {
  expect(response.status?.code).not.toBe(0);
  expect(response.status?.code).toEqual(expect.any(Number));
  expect(["Unauthorized", "Forbidden"]).toContain(response.denied_response?.status?.code);
  expect(headerMap(response.denied_response?.headers)["content-type"]).toBe("application/json");
  const reason = metadataOf(response).denied_reason;
  const body = JSON.parse(response.denied_response?.body ?? "");
  expect(body).toEqual({ error: { code: reason, message: expect.any(String) } });
  return reason ?? "";
}

async function redisKeyCount(redisUrl: string, prefix: string): Promise<number> {
  const redis = createRedisClient({ url: redisUrl });
  try {
    return (await redis.keys(`${prefix}*`)).length;
  } finally {
    redis.disconnect();
  }
}

async function expectHealthy(api: Api, key: { id: string; key: string }) {
  const allowed = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
  expect(allowed.status?.code).toBe(0);
  expect(metadataOf(allowed).api_key_id).toBe(key.id);
  expect((await api.request("GET", "/ready", { token: null })).status).toBe(200);
}

describe.each(GRPC_SERVERS)("hostile input over %s", (grpcServer) => {
  test.override({ grpcServer });

  describe("generated CheckRequests through the real gRPC server", () => {
    test("garbage and malformed keys: always a 401/403 denial, no lookup, no Redis, no write", async ({
      api,
      services,
    }) => {
      const real = await api.createKey({ rate_limit_per_minute: 1_000_000, rate_limit_per_day: 1_000_000 });
      const rowsBefore = await api.rowCounts();
      const redisBefore = await redisKeyCount(services.redisUrl, services.redisPrefix);
      const metricsBefore = await api.metricsText();
      let sent = 0;

      await fc.assert(
        fc.asyncProperty(checkRequestArbitrary(malformedCredential(real.key)), async (generated) => {
          sent++;
          tried++;
          const response = await api.check(generated.request, 5_000);
          const reason = expectWellFormedDenial(response);
          tally(`denied ${reason}`);
          if (namesCredentialHeader(generated.headers)) expect(["missing", "malformed"]).toContain(reason);
          else expect(reason).toBe("missing");
          expect(response.ok_response).toBeFalsy();
        }),
        { numRuns: 250 },
      );

      const metrics = await api.metricsText();
      // Nothing reached the key cache, so nothing reached Postgres or Redis either.
      for (const name of ["key_cache_lookups_total", "key_store_queries_total"]) {
        expect(counterTotal(metrics, name), name).toBe(counterTotal(metricsBefore, name));
      }
      const denied = (m: string) =>
        counterTotal(m, "authz_checks_total", 'reason="MISSING"') +
        counterTotal(m, "authz_checks_total", 'reason="MALFORMED"');
      expect(denied(metrics) - denied(metricsBefore)).toBe(sent);
      // The generator must reach the key-format check often, not only the "no credential" path.
      expect(outcomes["denied malformed"]).toBeGreaterThan(sent / 4);
      expect(outcomes["denied missing"]).toBeGreaterThan(sent / 10);
      expect(await redisKeyCount(services.redisUrl, services.redisPrefix)).toBe(redisBefore);
      expect(await api.rowCounts()).toEqual(rowsBefore);
      await expectHealthy(api, real);
    });

    test("a valid key with garbage around it: allowed, or 403 when the route's scopes are not held", async ({
      api,
    }) => {
      const real = await api.createKey({
        scopes: ["read", "billing:view"],
        rate_limit_per_minute: 1_000_000_000,
        rate_limit_per_day: 1_000_000_000,
      });
      const rowsBefore = await api.rowCounts();
      const separator = fc.constantFrom(",", " ", ", ", "\t", "\n", ",,", " , ");
      const scopeToken = fc.oneof(fc.constantFrom("read", "billing:view", "write", "READ", "read*"), text);
      const requiredScopes = fc.oneof(
        fc.array(fc.tuple(scopeToken, separator), { maxLength: 5 }).map((parts) => parts.flat().join("")),
        text,
      );
      const request = fc.record({
        scopes: fc.option(requiredScopes),
        extensions: contextExtensions,
        extra: fc.array(fc.tuple(fc.string({ unit: "grapheme-ascii", maxLength: 20 }), text), {
          maxLength: 8,
        }),
      });

      await fc.assert(
        fc.asyncProperty(request, async ({ scopes, extensions, extra }) => {
          tried++;
          const headers: Record<string, string> = {};
          for (const [name, value] of extra) {
            const lower = name.toLowerCase();
            if (lower !== "authorization" && lower !== "x-api-key") headers[lower] = value;
          }
          const contextExtensions = { ...extensions };
          delete contextExtensions.required_scopes;
          if (scopes !== null) contextExtensions.required_scopes = scopes;
          const response = await api.check(
            envoyCheckRequest({ headers: { ...headers, ...bearer(real.key) }, contextExtensions }),
            5_000,
          );
          // The route's scopes are separated by commas or white space; the key holds two of them.
          const wanted = (scopes ?? "").split(/[\s,]+/).filter(Boolean);
          const held = wanted.every((s) => s === "read" || s === "billing:view");
          tally(held ? "allowed" : "denied missing_scope");
          if (held) {
            expect(response.status?.code).toBe(0);
            expect(headerMap(response.ok_response?.headers)["x-api-key-id"]).toBe(real.id);
            expect(metadataOf(response).api_key_id).toBe(real.id);
          } else {
            expect(expectWellFormedDenial(response)).toBe("missing_scope");
            expect(response.denied_response?.status?.code).toBe("Forbidden");
          }
        }),
        { numRuns: 150 },
      );
      expect(outcomes.allowed).toBeGreaterThan(15);
      expect(outcomes["denied missing_scope"]).toBeGreaterThan(15);

      expect(await api.rowCounts()).toEqual(rowsBefore);
      await expectHealthy(api, real);
    });
  });

  // --- malformed gRPC on the wire ---------------------------------------------------------------

  const CHECK_HEADERS = grpcHeaders(AUTHORIZATION_CHECK_PATH);

  const checkMethod = () => loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check;

  /**
   * A refusal: an HTTP error status, a non-OK gRPC status, or (when the bytes happened to decode as a
   * CheckRequest) an OK call carrying a denial. Never an allow, never silence.
   */
  function expectRefused(answer: RawGrpcAnswer, label: string) {
    const refusedByHttp = answer.httpStatus >= 400 && answer.httpStatus < 500;
    const refusedByGrpc =
      answer.httpStatus === 200 && answer.grpcStatus !== undefined && answer.grpcStatus !== 0;
    if (refusedByHttp || refusedByGrpc) {
      tally(refusedByHttp ? `HTTP ${answer.httpStatus}` : `grpc-status ${answer.grpcStatus}`);
      return;
    }
    expect(answer.httpStatus, label).toBe(200);
    expect(answer.grpcStatus, label).toBe(0);
    expect(answer.body.length, label).toBeGreaterThanOrEqual(5);
    const response = checkMethod().responseDeserialize(answer.body.subarray(5)) as CheckResponse__Output;
    expect(response.status?.code, label).not.toBe(0);
    expect(["Unauthorized", "Forbidden"], label).toContain(response.denied_response?.status?.code);
    tally("decoded and denied");
  }

  describe("malformed gRPC over raw HTTP/2", () => {
    test("fixed protocol violations are refused promptly; the service stays up and bounded", async ({
      api,
    }) => {
      const real = await api.createKey({ rate_limit_per_minute: 1_000_000, rate_limit_per_day: 1_000_000 });
      const heapBefore = process.memoryUsage().heapUsed;
      const valid = checkMethod().requestSerialize(envoyCheckRequest({ headers: bearer(real.key) }));
      const keyless = checkMethod().requestSerialize(envoyCheckRequest());
      const session = http2.connect(`http://127.0.0.1:${api.grpcPort}`);
      session.on("error", () => {});

      const cases: {
        label: string;
        headers?: Record<string, string>;
        body: Buffer;
        end?: boolean;
        grpc?: number;
        http?: number;
      }[] = [
        { label: "a truncated prefix", body: Buffer.from([0, 0, 0]) },
        { label: "a prefix and no message", body: grpcPrefix(100) },
        { label: "declared length larger than sent", body: Buffer.concat([grpcPrefix(1_000), valid]) },
        {
          label: "a declared 4 GiB length, stream left open",
          body: grpcPrefix(0xffff_ffff),
          end: false,
          grpc: 8,
        },
        { label: "a declared 4 MiB + 1 length", body: grpcPrefix(4 * 1024 * 1024 + 1), end: false, grpc: 8 },
        {
          label: "a stalled message under Envoy's deadline",
          headers: { ...CHECK_HEADERS, "grpc-timeout": "200m" },
          body: Buffer.concat([grpcPrefix(1_000), valid.subarray(0, 10)]),
          end: false,
          grpc: 4,
        },
        // The spec calls this a protocol error; grpc-js reads the message as uncompressed instead, so
        // it carries no key here and earns the denial a keyless request gets.
        {
          label: "compressed flag without grpc-encoding",
          body: Buffer.concat([grpcPrefix(keyless.length, 1), keyless]),
        },
        {
          label: "an unknown grpc-encoding",
          headers: { ...CHECK_HEADERS, "grpc-encoding": "snappy-ish" },
          body: Buffer.concat([grpcPrefix(valid.length, 1), valid]),
          grpc: 12,
        },
        {
          label: "two messages on a unary call",
          body: Buffer.concat([grpcPrefix(valid.length), valid, grpcPrefix(valid.length), valid]),
        },
        {
          label: "a non-gRPC content-type",
          headers: { ...CHECK_HEADERS, "content-type": "application/json" },
          body: Buffer.from('{"attributes":{}}'),
          http: 415,
        },
        {
          label: "no content-type",
          headers: { ":method": "POST", ":path": AUTHORIZATION_CHECK_PATH, te: "trailers" },
          body: Buffer.concat([grpcPrefix(valid.length), valid]),
          http: 415,
        },
        {
          label: "an unknown method",
          headers: { ...CHECK_HEADERS, ":path": "/envoy.service.auth.v3.Authorization/Delete" },
          body: Buffer.concat([grpcPrefix(valid.length), valid]),
          grpc: 12,
        },
        {
          label: "an unknown service",
          headers: { ...CHECK_HEADERS, ":path": "/../../etc/passwd" },
          body: Buffer.concat([grpcPrefix(valid.length), valid]),
          grpc: 12,
        },
        {
          label: "GET instead of POST",
          headers: { ...CHECK_HEADERS, ":method": "GET" },
          body: Buffer.alloc(0),
        },
      ];
      for (const c of cases) {
        const answer = await rawGrpcCall(session, c.headers ?? CHECK_HEADERS, c.body, { end: c.end ?? true });
        tried++;
        expectRefused(answer, c.label);
        if (c.grpc !== undefined) expect(answer.grpcStatus, c.label).toBe(c.grpc);
        if (c.http !== undefined) expect(answer.httpStatus, c.label).toBe(c.http);
      }

      const frame = Buffer.concat([grpcPrefix(valid.length), valid]);
      const ok = await rawGrpcCall(session, CHECK_HEADERS, frame);
      expect(ok.grpcStatus).toBe(0);
      session.close();
      await expectHealthy(api, real);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    });

    test("random bytes, random frames and random protobuf: refused or denied, never a hang", async ({
      api,
    }) => {
      const real = await api.createKey({ rate_limit_per_minute: 1_000_000, rate_limit_per_day: 1_000_000 });
      const rowsBefore = await api.rowCounts();
      const heapBefore = process.memoryUsage().heapUsed;
      const session = http2.connect(`http://127.0.0.1:${api.grpcPort}`);
      session.on("error", () => {});
      const bytes = fc.uint8Array({ maxLength: 2_048 });
      const body = fc.oneof(
        // Anything at all as the body.
        bytes.map((b) => Buffer.from(b)),
        // A well-framed message whose content is random: protobuf that may or may not parse.
        bytes.map((b) => Buffer.concat([grpcPrefix(b.length), b])),
        // A frame whose declared length disagrees with what follows.
        fc
          .tuple(fc.nat({ max: 0xffff_ffff }), bytes)
          .map(([length, b]) => Buffer.concat([grpcPrefix(length), b]))
          .filter((frame) => frame.readUInt32BE(1) !== frame.length - 5),
        // A real CheckRequest with random bytes flipped in it.
        fc
          .tuple(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }))
          .map(([flips]) => {
            const message = Buffer.from(checkMethod().requestSerialize(envoyCheckRequest()));
            for (const [at, xor] of flips) {
              const i = at % message.length;
              message[i] = (message[i] ?? 0) ^ xor;
            }
            return Buffer.concat([grpcPrefix(message.length), message]);
          }),
      );

      await fc.assert(
        fc.asyncProperty(body, fc.boolean(), async (payload, compressedHeader) => {
          tried++;
          const headers = compressedHeader
            ? { ...CHECK_HEADERS, "grpc-encoding": "identity" }
            : CHECK_HEADERS;
          const answer = await rawGrpcCall(session, headers, payload);
          expectRefused(answer, `${payload.length} bytes`);
        }),
        { numRuns: 200 },
      );

      session.close();
      expect(await api.rowCounts()).toEqual(rowsBefore);
      await expectHealthy(api, real);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
      expect(outcomes["decoded and denied"]).toBeGreaterThan(10);
      console.log(`hostile-check: ${tried} generated or crafted inputs tried`, JSON.stringify(outcomes));
    });
  });

  describe("rapid reset (CVE-2023-44487)", () => {
    test("2,000 Checks each reset as it is sent: the connection is ended, and over h2 next to no checks run", async ({
      api,
    }) => {
      const real = await api.createKey({ rate_limit_per_minute: 1_000_000, rate_limit_per_day: 1_000_000 });
      const before = counterTotal(await api.metricsText(), "authz_checks_total");
      const block = encodeRepeatedHeaders([
        [":method", "POST"],
        [":scheme", "http"],
        [":path", AUTHORIZATION_CHECK_PATH],
        [":authority", "x"],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
      ]).first;
      const message = Buffer.from(
        checkMethod().requestSerialize(envoyCheckRequest({ headers: bearer(real.key) })),
      );
      const body = Buffer.concat([grpcPrefix(message.length), message]);
      const attack: Buffer[] = [F.PREFACE, F.settingsFrame([])];
      for (let id = 1; id < 4_000; id += 2)
        attack.push(
          F.frame(F.HEADERS, F.END_HEADERS, id, block),
          F.frame(F.DATA, F.END_STREAM, id, body),
          F.rstStream(id, F.CANCEL),
        );
      const socket = net.connect(api.grpcPort, "127.0.0.1");
      socket.on("error", () => {});
      const goaway = new Promise<number | undefined>((resolve) => {
        let buffered = Buffer.alloc(0);
        socket.on("data", (chunk: Buffer) => {
          buffered = Buffer.concat([buffered, chunk]);
          while (buffered.length >= 9) {
            const length = buffered.readUIntBE(0, 3);
            if (buffered.length < 9 + length) break;
            if (buffered[3] === F.GOAWAY) resolve(buffered.readUInt32BE(9 + 4));
            buffered = buffered.subarray(9 + length);
          }
        });
        socket.on("close", () => resolve(undefined));
      });
      socket.write(Buffer.concat(attack));
      const code = await goaway;
      socket.destroy();
      const ran = counterTotal(await api.metricsText(), "authz_checks_total") - before;
      console.log(`rapid reset over ${grpcServer}: GOAWAY ${code}, ${ran} of 2000 checks ran`);
      if (grpcServer === "h2") {
        expect(code).toBe(F.ENHANCE_YOUR_CALM);
        // Only a request whose reset fell into the next read of the socket can have started.
        expect(ran).toBeLessThan(100);
      } else {
        // node's nghttp2 ends the connection once its burst of 1,000 resets is spent; the checks of
        // the streams it let through have run by then.
        expect(code).toBeDefined();
        expect(ran).toBeLessThan(2_000);
      }
      await expectHealthy(api, real);
    });
  });
});
