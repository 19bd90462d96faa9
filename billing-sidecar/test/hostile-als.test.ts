import http2 from "node:http2";
import { loadEnvoyServices, STREAM_ACCESS_LOGS_PATH, type StreamAccessLogsMessage } from "@gateway/proto";
import { grpcHeaders, grpcPrefix, type RawGrpcAnswer, rawGrpcCall } from "@gateway/testing";
import fc from "fast-check";
import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, type RunningSidecar, sample, test } from "./fixtures.js";

/**
 * Hostile input to the access-log service, generated: whatever arrives on the ALS port, the sidecar
 * stays up, bills only entries that carry an identity ext_authz could have issued, writes nothing for
 * garbage, counts what it skipped, never wedges its batch queue, and keeps serving a good stream.
 */

type Entry = NonNullable<NonNullable<StreamAccessLogsMessage["http_logs"]>["log_entry"]>[number];
type Value = Record<string, unknown>;

/** Access-log entries and raw HTTP/2 requests sent: the figures the docs quote. */
let entriesTried = 0;
let framesTried = 0;
const NAMESPACE = "envoy.filters.http.ext_authz";
const MAX_BIGINT = 2n ** 63n - 1n;

const nastyChar = fc.constantFrom(
  "\u0000",
  "\r",
  "\n",
  "\u007f",
  "\u2028",
  "\ufeff",
  "\ud800",
  "😀",
  " ",
  "'",
  ";",
);
const text = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 30 }),
  fc.string({ unit: "binary", maxLength: 30 }),
  fc.string({ unit: fc.oneof(nastyChar, fc.string({ maxLength: 3 })), maxLength: 30 }),
  fc.nat({ max: 100_000 }).map((n) => "h".repeat(n)),
);

/** A Struct value of any kind but a non-empty string: never an identity. */
const notAString = fc.oneof(
  fc.double().map((n) => ({ numberValue: n })),
  fc.boolean().map((b) => ({ boolValue: b })),
  fc.constant({ nullValue: "NULL_VALUE" }),
  fc.constant({ stringValue: "" }),
  fc.constant({}),
  text.map((s) => ({ structValue: { fields: { id: { stringValue: s } } } })),
  fc.constant({ listValue: { values: [{ stringValue: "key_listed" }] } }),
);

/**
 * A string no API could have issued as a key or user id: too long, empty of letters, or with a
 * character outside letters, digits and . _ : @ - (each is constructed to be so).
 */
const notAnId = fc.oneof(
  fc.nat({ max: 100_000 }).map((n) => `key_${"x".repeat(129 + n)}`),
  fc.tuple(fc.string({ unit: "grapheme-ascii", maxLength: 10 }), nastyChar).map(([s, c]) => `key_${s}${c}`),
  fc.constantFrom("-key", ".", "key a", "key_a'; drop table usage_minutes; --", "ключ", "key\u0000a"),
);

/** Timestamps as Envoy could never send them, and some it could. */
const seconds = fc.oneof(
  fc.constant(String(Math.floor(Date.now() / 1000))),
  fc.integer({ min: -86_400 * 3, max: 86_400 * 3 }).map((d) => String(Math.floor(Date.now() / 1000) + d)),
  fc.constantFrom("0", "-1", "-62135596800", "253402300800", "8640000000000", "9223372036854775807"),
  fc.bigInt({ min: -(2n ** 63n), max: MAX_BIGINT }).map(String),
);
/**
 * Byte counts are uint64 on the wire: plausible ones, and absurd ones up to 2^64-1 (a negative one,
 * written as a string, arrives as its two's complement).
 */
const plausibleBytes = fc.bigInt({ min: 0n, max: 2n ** 40n });
const absurdBytes = fc.oneof(
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 64n - 1n }),
  fc.constantFrom(2n ** 64n - 1n, MAX_BIGINT, MAX_BIGINT + 1n, -1n, -(2n ** 63n)),
);
const responseCode = fc.option(
  fc.oneof(
    fc.constantFrom(0, 1, 99, 100, 199, 200, 204, 304, 404, 499, 500, 599, 600, 999),
    fc.nat({ max: 2 ** 32 - 1 }),
  ),
  { freq: 8 },
);

interface Usage {
  kind: "usage";
  keyId: string;
  code: number | null;
  bytesIn: bigint;
  bytesOut: bigint;
  entry: Entry;
}
type Generated = { kind: "no_identity" | "denied"; entry: Entry } | Usage;

/** An entry shaped as Envoy sends it, then bent: its identity fields are replaced by `fields`. */
function withIdentity(fields: Record<string, Value> | null, namespace = NAMESPACE): Entry {
  const entry = httpEntry({ code: 200 });
  const common = entry.common_properties ?? {};
  if (fields === null) delete common.metadata;
  else common.metadata = { filter_metadata: { [namespace]: { fields } } };
  return entry;
}

/** Entries that must never be billed: no identity, a broken identity, or denied by ext_authz. */
function unbillable(keyId: string, userId: string): fc.Arbitrary<Generated> {
  const id = { stringValue: keyId };
  const user = { stringValue: userId };
  const noIdentity = fc.oneof(
    fc.constant(null).map(() => withIdentity(null)),
    fc.constant(null).map(() => withIdentity({})),
    fc
      .oneof(text, fc.constantFrom("envoy.filters.http.jwt_authn", "envoy.filters.http.ext_authz ", ""))
      .filter((ns) => ns !== NAMESPACE)
      .map((ns) => withIdentity({ api_key_id: id, user_id: user }, ns)),
    notAString.map((v) => withIdentity({ api_key_id: v, user_id: user })),
    notAString.map((v) => withIdentity({ api_key_id: id, user_id: v })),
    fc.constant(null).map(() => withIdentity({ api_key_id: id })),
    fc.constant(null).map(() => withIdentity({ user_id: user })),
    notAnId.map((bad) => withIdentity({ api_key_id: { stringValue: bad }, user_id: user })),
    notAnId.map((bad) => withIdentity({ api_key_id: id, user_id: { stringValue: bad } })),
  );
  const denied = fc.oneof(
    text
      .filter((t) => t.length > 0)
      .map((reason) =>
        withIdentity({ api_key_id: id, user_id: user, denied_reason: { stringValue: reason } }),
      ),
    fc.constant(null).map(() => {
      const entry = withIdentity({ api_key_id: id, user_id: user });
      entry.response = { ...entry.response, response_code_details: "ext_authz_denied" };
      return entry;
    }),
  );
  return fc.oneof(
    { weight: 3, arbitrary: noIdentity.map((entry) => ({ kind: "no_identity" as const, entry })) },
    { weight: 1, arbitrary: denied.map((entry) => ({ kind: "denied" as const, entry })) },
  );
}

/** Keys 0 and 1 get plausible byte counts, checked to the byte; key 2 also gets absurd ones. */
const SANE_KEYS = 2;

/** A good identity (by key index) and everything else hostile: codes, times, byte counts, huge text. */
const billableSpec = fc.record({
  key: fc.nat({ max: SANE_KEYS }),
  code: responseCode,
  seconds: fc.option(seconds, { freq: 5 }),
  nanos: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
  plausible: fc.array(plausibleBytes, { minLength: 4, maxLength: 4 }),
  absurd: fc.array(fc.option(absurdBytes, { freq: 2 }), { minLength: 4, maxLength: 4 }),
  requestId: fc.uuid(),
  padding: fc.oneof(fc.constant(""), text),
  customer: fc.option(
    fc.oneof(
      notAString,
      text.map((s) => ({ stringValue: s })),
    ),
  ),
  path: text,
  userAgent: text,
});

function usageEntry(g: BillableSpec, keyId: string, userId: string): Usage {
  const fields: Record<string, Value> = {
    api_key_id: { stringValue: keyId },
    user_id: { stringValue: userId },
  };
  if (g.customer) fields.stripe_customer_id = g.customer;
  const entry = withIdentity(fields);
  const common = entry.common_properties ?? {};
  if (g.seconds === null) delete common.start_time;
  else common.start_time = { seconds: g.seconds, nanos: g.nanos };
  const bytes = g.plausible.map((b, i) => (g.key < SANE_KEYS ? b : (g.absurd[i] ?? b)));
  const [headersIn = 0n, bodyIn = 0n, headersOut = 0n, bodyOut = 0n] = bytes;
  entry.request = {
    ...entry.request,
    path: g.path,
    user_agent: g.userAgent,
    // Unique per entry, so no entry is dropped as a duplicate of another.
    request_id: `${g.requestId}${g.padding}`,
    request_headers_bytes: String(headersIn),
    request_body_bytes: String(bodyIn),
  };
  entry.response = {
    response_code_details: "via_upstream",
    response_headers_bytes: String(headersOut),
    response_body_bytes: String(bodyOut),
    ...(g.code === null ? {} : { response_code: { value: g.code } }),
  };
  return {
    kind: "usage",
    keyId,
    code: g.code,
    bytesIn: headersIn + bodyIn,
    bytesOut: headersOut + bodyOut,
    entry,
  };
}

type BillableSpec = typeof billableSpec extends fc.Arbitrary<infer T> ? T : never;

const identifier = fc.option(
  fc.record(
    { node: fc.record({ id: text, cluster: text }, { requiredKeys: [] }), log_name: text },
    {
      requiredKeys: [],
    },
  ),
  { freq: 4 },
);

async function entriesTotal(sidecar: RunningSidecar, result: string): Promise<number> {
  return sample(await sidecar.metricsText(), `als_entries_total{result="${result}"}`);
}

interface KeyUsage {
  requests: number;
  billable: number;
  status5xx: number;
  bytesIn: bigint;
  bytesOut: bigint;
}

async function usageByKey(sidecar: RunningSidecar): Promise<Map<string, KeyUsage>> {
  const rows = await sidecar.query(
    `select key_id, sum(requests)::text as requests, sum(billable_requests)::text as billable,
            sum(status_5xx)::text as status_5xx, sum(bytes_in)::text as bytes_in, sum(bytes_out)::text as bytes_out,
            bool_and(bytes_in >= 0 and bytes_out >= 0) as non_negative
       from usage_minutes group by key_id`,
  );
  return new Map(
    rows.map((r) => {
      expect(r.non_negative, `bytes of ${r.key_id}`).toBe(true);
      return [
        r.key_id,
        {
          requests: Number(r.requests),
          billable: Number(r.billable),
          status5xx: Number(r.status_5xx),
          bytesIn: BigInt(r.bytes_in),
          bytesOut: BigInt(r.bytes_out),
        },
      ];
    }),
  );
}

/** The last warning the sidecar logged, to explain a batch that did not land. */
const lastWarning = (sidecar: RunningSidecar) =>
  sidecar.logs.filter((l) => l.includes('"level":40') || l.includes('"level":50')).at(-1) ?? "none";

describe("generated access-log messages", () => {
  test("garbage writes nothing; identity-less and denied entries are counted, never billed", async ({
    sidecar,
  }) => {
    const stream = envoyAlsStream(sidecar.alsPort);
    const expected = { no_identity: 0, denied: 0, tcp_ignored: 0 };
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            { weight: 4, arbitrary: fc.array(unbillable("key_hostile0", "user-0"), { maxLength: 8 }) },
            { weight: 1, arbitrary: fc.nat({ max: 5 }) }, // TCP entries
            { weight: 1, arbitrary: fc.constant(null) }, // a message with neither
          ),
          { minLength: 1, maxLength: 3 },
        ),
        identifier,
        async (messages, id) => {
          for (const [i, content] of messages.entries()) {
            const message: StreamAccessLogsMessage = {};
            if (Array.isArray(content)) {
              message.http_logs = { log_entry: content.map((g) => g.entry) };
              for (const g of content) expected[g.kind as "no_identity" | "denied"]++;
              entriesTried += content.length;
            } else if (content !== null) {
              message.tcp_logs = {
                log_entry: Array.from({ length: content }, () => ({ common_properties: {} })),
              };
              expected.tcp_ignored += content;
              entriesTried += content;
            }
            if (i === 0 && id) message.identifier = id;
            stream.call.write(message);
          }
          for (const result of ["no_identity", "denied", "tcp_ignored"] as const) {
            await expect.poll(() => entriesTotal(sidecar, result), { interval: 5 }).toBe(expected[result]);
          }
        },
      ),
      // One sidecar serves every run, so a run that wedged it would fail all later ones: shrinking
      // would only mislead. The first failing input is printed as it was generated.
      { numRuns: 100, endOnFailure: true },
    );
    await sidecar.flush();
    const metrics = await sidecar.metricsText();
    expect(sample(metrics, 'als_entries_total{result="billed"}')).toBe(0);
    expect(sample(metrics, 'als_entries_total{result="not_billable"}')).toBe(0);
    expect(await sidecar.query("select * from usage_minutes")).toEqual([]);
    expect(await sidecar.query("select * from usage_batches")).toEqual([]);
    expect(stream.answered()).toBe("no answer");
    stream.cancel();
    stream.close();
  });

  test("entries with a good identity and hostile everything else are billed exactly, never wedge a batch", async ({
    sidecar,
  }) => {
    const stream = envoyAlsStream(sidecar.alsPort);
    const expectedUsage = new Map<string, KeyUsage>();
    const saneKeys = new Set<string>();
    let run = 0;
    let skipped = 0;
    const entries = fc.array(
      fc.oneof(
        { weight: 3, arbitrary: billableSpec.map((spec) => ({ usage: spec })) },
        { weight: 1, arbitrary: unbillable("key_placeholder", "user-x").map((other) => ({ other })) },
      ),
      { minLength: 1, maxLength: 12 },
    );
    await fc.assert(
      fc.asyncProperty(entries, async (specs) => {
        // Fresh identities each run, so what one run wrote cannot hide what another did.
        run++;
        const keyIds = Array.from({ length: SANE_KEYS + 1 }, (_, i) => `key_run${run}k${i}`);
        const batch: Generated[] = specs.map((s) => {
          if ("usage" in s) return usageEntry(s.usage, keyIds[s.usage.key] as string, `user-${run}@example`);
          // The unbillable ones use this run's first key, so a billing mistake would show on it.
          const fields = s.other.entry.common_properties?.metadata?.filter_metadata?.[NAMESPACE]?.fields;
          if (fields?.api_key_id?.stringValue === "key_placeholder")
            fields.api_key_id = { stringValue: keyIds[0] };
          return s.other;
        });
        entriesTried += batch.length;
        stream.send(batch.map((g) => g.entry));
        for (const g of batch) {
          if (g.kind !== "usage") {
            skipped++;
            continue;
          }
          if (!g.keyId.endsWith(`k${SANE_KEYS}`)) saneKeys.add(g.keyId);
          const u = expectedUsage.get(g.keyId) ?? {
            requests: 0,
            billable: 0,
            status5xx: 0,
            bytesIn: 0n,
            bytesOut: 0n,
          };
          u.requests++;
          // BILLABLE_STATUSES defaults to 100-499; an entry without a response code is not billable.
          if (g.code !== null && g.code >= 100 && g.code <= 499) u.billable++;
          if (g.code !== null && g.code >= 500) u.status5xx++;
          u.bytesIn += g.bytesIn;
          u.bytesOut += g.bytesOut;
          expectedUsage.set(g.keyId, u);
        }
        const expectedEntries = [...expectedUsage.values()].reduce((n, u) => n + u.requests, 0);
        await expect
          .poll(
            async () =>
              (await entriesTotal(sidecar, "billed")) + (await entriesTotal(sidecar, "not_billable")),
            { interval: 5 },
          )
          .toBe(expectedEntries);
        await sidecar.flush();
        const metrics = await sidecar.metricsText();
        expect(sample(metrics, 'usage_batches_total{result="failed"}'), lastWarning(sidecar)).toBe(0);
        expect(sample(metrics, "usage_buffer_rows"), lastWarning(sidecar)).toBe(0);

        const stored = await usageByKey(sidecar);
        // Only identities sent in good entries have rows, and each is counted exactly.
        expect([...stored.keys()].sort()).toEqual([...expectedUsage.keys()].sort());
        for (const [keyId, want] of expectedUsage) {
          const got = stored.get(keyId);
          expect(got?.requests, keyId).toBe(want.requests);
          expect(got?.billable, keyId).toBe(want.billable);
          expect(got?.status5xx, keyId).toBe(want.status5xx);
          if (saneKeys.has(keyId)) {
            expect(got?.bytesIn, keyId).toBe(want.bytesIn);
            expect(got?.bytesOut, keyId).toBe(want.bytesOut);
          }
        }
      }),
      // Stateful across runs, as above: no shrinking, the first failing input is printed.
      { numRuns: 60, endOnFailure: true },
    );
    expect(skipped).toBeGreaterThan(0);
    stream.cancel();
    stream.close();
  });
});

// --- malformed gRPC on the wire ---------------------------------------------------------------

const ALS_HEADERS = grpcHeaders(STREAM_ACCESS_LOGS_PATH);

const encodeMessage = (message: StreamAccessLogsMessage) =>
  loadEnvoyServices().envoy.service.accesslog.v3.AccessLogService.service.StreamAccessLogs.requestSerialize(
    message,
  );

/** Refused by HTTP or gRPC, or (bytes that decoded, stream ended by the client) answered OK and empty. */
function expectAnswered(answer: RawGrpcAnswer, label: string) {
  const refusedByHttp = answer.httpStatus >= 400 && answer.httpStatus < 500;
  if (!refusedByHttp) {
    expect(answer.httpStatus, label).toBe(200);
    expect(answer.grpcStatus, label).toEqual(expect.any(Number));
  }
}

describe("malformed gRPC over raw HTTP/2 to the ALS port", () => {
  test("protocol violations and random bytes are refused; a good stream keeps working; nothing is written", async ({
    sidecar,
  }) => {
    const heapBefore = process.memoryUsage().heapUsed;
    // A well-behaved Envoy worker's stream, open throughout.
    const good = envoyAlsStream(sidecar.alsPort, "edge-good");
    good.send([httpEntry({ keyId: "key_good", userId: "gina", code: 200 })]);
    await expect.poll(() => entriesTotal(sidecar, "billed"), { interval: 5 }).toBe(1);

    const session = http2.connect(`http://127.0.0.1:${sidecar.alsPort}`);
    session.on("error", () => {});
    const unbillableMessage = encodeMessage({
      identifier: { node: { id: "evil" }, log_name: "x" },
      http_logs: {
        // Unbillable for want of an identity, in more bytes than the flips below change at once: with
        // "key_bad\u0000" alone, one flip of the NUL to a letter made a billable key (seen once in CI).
        log_entry: [
          httpEntry({ code: 200 }),
          httpEntry({ keyId: "key_bad\u0000\u0000\u0000\u0000", userId: "\u0000\u0000u", code: 200 }),
        ],
      },
    });
    const cases: {
      label: string;
      headers?: Record<string, string>;
      body: Buffer;
      end?: boolean;
      grpc?: number;
      http?: number;
    }[] = [
      { label: "a truncated prefix", body: Buffer.from([0, 0]) },
      {
        label: "declared length larger than sent",
        body: Buffer.concat([grpcPrefix(10_000), unbillableMessage]),
      },
      {
        label: "a declared 4 GiB length, stream left open",
        body: grpcPrefix(0xffff_ffff),
        end: false,
        grpc: 8,
      },
      {
        label: "a stalled message under a deadline",
        headers: { ...ALS_HEADERS, "grpc-timeout": "200m" },
        body: grpcPrefix(1_000),
        end: false,
        grpc: 4,
      },
      {
        label: "an unknown grpc-encoding",
        headers: { ...ALS_HEADERS, "grpc-encoding": "snappy-ish" },
        body: Buffer.concat([grpcPrefix(unbillableMessage.length, 1), unbillableMessage]),
        grpc: 12,
      },
      {
        label: "garbage flagged as compressed",
        body: Buffer.concat([grpcPrefix(4, 1), Buffer.from([0xff, 0xff, 0xff, 0xff])]),
        grpc: 13,
      },
      {
        label: "a non-gRPC content-type",
        headers: { ...ALS_HEADERS, "content-type": "application/json" },
        body: Buffer.from("{}"),
        http: 415,
      },
      {
        label: "an unknown method",
        headers: { ...ALS_HEADERS, ":path": "/envoy.service.accesslog.v3.AccessLogService/Delete" },
        body: Buffer.concat([grpcPrefix(unbillableMessage.length), unbillableMessage]),
        grpc: 12,
      },
      {
        label: "unbillable entries, then a broken frame",
        body: Buffer.concat([
          grpcPrefix(unbillableMessage.length),
          unbillableMessage,
          grpcPrefix(3),
          Buffer.from([0xff, 0xff, 0xff]),
        ]),
        grpc: 13,
      },
    ];
    for (const c of cases) {
      const answer = await rawGrpcCall(session, c.headers ?? ALS_HEADERS, c.body, { end: c.end ?? true });
      framesTried++;
      expectAnswered(answer, c.label);
      if (c.grpc !== undefined) expect(answer.grpcStatus, c.label).toBe(c.grpc);
      if (c.http !== undefined) expect(answer.httpStatus, c.label).toBe(c.http);
    }

    const bytes = fc.uint8Array({ maxLength: 4_096 });
    const body = fc.oneof(
      bytes.map((b) => Buffer.from(b)),
      bytes.map((b) => Buffer.concat([grpcPrefix(b.length), b])),
      fc
        .tuple(fc.nat({ max: 0xffff_ffff }), bytes)
        .map(([length, b]) => Buffer.concat([grpcPrefix(length), b]))
        .filter((frame) => frame.readUInt32BE(1) !== frame.length - 5),
      // A real message with random bytes flipped in it.
      fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { maxLength: 6 }).map((flips) => {
        const message = Buffer.from(unbillableMessage);
        for (const [at, xor] of flips) {
          const i = at % message.length;
          message[i] = (message[i] ?? 0) ^ xor;
        }
        return Buffer.concat([grpcPrefix(message.length), message]);
      }),
    );
    await fc.assert(
      fc.asyncProperty(body, async (payload) => {
        framesTried++;
        expectAnswered(await rawGrpcCall(session, ALS_HEADERS, payload), `${payload.length} bytes`);
      }),
      { numRuns: 150 },
    );
    session.close();

    // The good stream is still served, and only it was ever billed.
    good.send([httpEntry({ keyId: "key_good", userId: "gina", code: 200 })]);
    await expect.poll(() => entriesTotal(sidecar, "billed"), { interval: 5 }).toBe(2);
    await expect.poll(() => sidecar.metricsText().then((m) => sample(m, "als_streams_active"))).toBe(1);
    expect(good.answered()).toBe("no answer");
    await sidecar.flush();
    // Summed over minutes: the two entries are seconds apart and may fall on either side of a minute.
    expect(
      await sidecar.query("select key_id, sum(requests)::int as requests from usage_minutes group by key_id"),
    ).toEqual([{ key_id: "key_good", requests: 2 }]);
    expect((await fetch(`http://127.0.0.1:${sidecar.httpPort}/ready`)).status).toBe(200);
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024);
    good.cancel();
    good.close();
    console.log(
      `hostile-als: ${entriesTried} access-log entries and ${framesTried} raw HTTP/2 requests tried`,
    );
  });
});
