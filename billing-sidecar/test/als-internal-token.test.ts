import http2 from "node:http2";
import { loadEnvoyServices, STREAM_ACCESS_LOGS_PATH, type StreamAccessLogsMessage } from "@gateway/proto";
import { callWithFields, hostileTokenFields, type TestServices } from "@gateway/testing";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { service as healthService } from "grpc-health-check";
import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, type RunningSidecar, sample, startSidecar, test } from "./fixtures.js";

/**
 * INTERNAL_TOKEN on the access-log port: a stream without the token as x-gateway-token is ended
 * UNAUTHENTICATED before any entry is read, is counted, and bills nothing. Health stays open; without
 * the setting everything works as before.
 */

const TOKEN = "gw-internal-0123456789abcdef0123456789abcdef";
const ALS_SERVICE = "envoy.service.accesslog.v3.AccessLogService";
const REFUSED = `grpc_unauthenticated_total{service="${ALS_SERVICE}"}`;

async function withTokenSidecar(services: TestServices, body: (sidecar: RunningSidecar) => Promise<void>) {
  const sidecar = await startSidecar(services, { INTERNAL_TOKEN: TOKEN });
  try {
    await body(sidecar);
  } finally {
    await sidecar.close();
  }
}

/** Billed entries of a key, straight from Postgres, after the sidecar wrote what it held. */
async function billed(sidecar: RunningSidecar, keyId: string): Promise<number> {
  await sidecar.flush();
  const [row] = await sidecar.query(
    "select coalesce(sum(requests), 0)::int as n from usage_minutes where key_id = $1",
    [keyId],
  );
  return row.n;
}

/** Nothing of a refused stream was read: no entry counted, no stream open, no usage row. */
async function nothingRead(sidecar: RunningSidecar) {
  const metrics = await sidecar.metricsText();
  expect(metrics.split("\n").filter((l) => l.startsWith("als_entries_total{"))).toEqual([]);
  expect(sample(metrics, "als_streams_active")).toBe(0);
  await sidecar.flush();
  const [row] = await sidecar.query("select count(*)::int as n from usage_minutes");
  expect(row.n).toBe(0);
}

/** A stream with arbitrary metadata, as grpc-js sends it; resolves with how the server ended it. */
function streamWith(port: number, metadata: grpc.Metadata, entries: number) {
  const Service = loadEnvoyServices().envoy.service.accesslog.v3.AccessLogService;
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<number>((resolve) => {
    const call = client.StreamAccessLogs(metadata, (err) => {
      client.close();
      resolve(err ? err.code : 0);
    });
    call.on("error", () => {});
    const message: StreamAccessLogsMessage = {
      identifier: { node: { id: "intruder" }, log_name: "billing" },
      http_logs: {
        log_entry: Array.from({ length: entries }, () =>
          httpEntry({ keyId: "key_victim", userId: "victim", code: 200 }),
        ),
      },
    };
    call.write(message);
    call.end();
  });
}

function metadata(entries: [string, string | Buffer][]): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of entries) m.add(k, v);
  return m;
}

describe("the access-log port with INTERNAL_TOKEN", () => {
  test("Envoy's stream with the token is read and billed as before", async ({ services }) => {
    await withTokenSidecar(services, async (sidecar) => {
      const stream = envoyAlsStream(sidecar.alsPort, "edge-envoy-1", TOKEN);
      stream.send([httpEntry({ keyId: "key_good", userId: "u", code: 200 })]);
      stream.send([httpEntry({ keyId: "key_good", userId: "u", code: 200 })]);
      await expect
        .poll(() => sidecar.metricsText().then((m) => sample(m, 'als_entries_total{result="billed"}')))
        .toBe(2);
      expect(await billed(sidecar, "key_good")).toBe(2);
      expect(stream.answered()).toBe("no answer");
      stream.cancel();
      stream.close();
      expect(sample(await sidecar.metricsText(), REFUSED)).toBe(0);
    });
  });

  test("no token, a wrong one, a near miss, two values or the token under -bin: UNAUTHENTICATED, counted, nothing billed", async ({
    services,
  }) => {
    await withTokenSidecar(services, async (sidecar) => {
      const attempts: [string, string | Buffer][][] = [
        [],
        [["x-gateway-token", "wrong-token-wrong-token-wrong-token-0000"]],
        [["x-gateway-token", TOKEN.slice(0, -1)]],
        [["x-gateway-token", `${TOKEN}0`]],
        [
          ["x-gateway-token", TOKEN],
          ["x-gateway-token", TOKEN],
        ],
        [["x-gateway-token-bin", Buffer.from(TOKEN)]],
      ];
      for (const entries of attempts)
        expect(await streamWith(sidecar.alsPort, metadata(entries), 50), JSON.stringify(entries)).toBe(
          grpc.status.UNAUTHENTICATED,
        );
      expect(sample(await sidecar.metricsText(), REFUSED)).toBe(attempts.length);
      await nothingRead(sidecar);
      expect(sidecar.logs.join("")).toContain("gRPC calls without a valid x-gateway-token refused");
      expect(sidecar.logs.join("")).not.toContain(TOKEN);
    });
  });

  test("a refused stream is ended at once, while it is still open, before anything is read", async ({
    services,
  }) => {
    await withTokenSidecar(services, async (sidecar) => {
      const stream = envoyAlsStream(sidecar.alsPort, "intruder", "not-the-token-not-the-token-not-the-token");
      stream.send([httpEntry({ keyId: "key_victim", userId: "victim", code: 200 })]);
      // The client never half-closes: the answer must not wait for it.
      expect(await stream.done).toBe(`error ${grpc.status.UNAUTHENTICATED}`);
      stream.close();
      await nothingRead(sidecar);
    });
  });

  test("health answers without the token (Kubernetes' gRPC probes cannot send one)", async ({ services }) => {
    await withTokenSidecar(services, async (sidecar) => {
      const Health = grpc.makeGenericClientConstructor(healthService, "Health");
      const client = new Health(`127.0.0.1:${sidecar.alsPort}`, grpc.credentials.createInsecure()) as any;
      try {
        const status = await new Promise<string>((resolve, reject) =>
          client.Check({ service: ALS_SERVICE }, (err: Error | null, res: { status: string }) =>
            err ? reject(err) : resolve(res.status),
          ),
        );
        expect(status).toBe("SERVING");
      } finally {
        client.close();
      }
      expect(sample(await sidecar.metricsText(), REFUSED)).toBe(0);
    });
  });
});

describe("the access-log port without INTERNAL_TOKEN", () => {
  test("streams without metadata are billed as today, and a stray token changes nothing", async ({
    sidecar,
  }) => {
    const bare = envoyAlsStream(sidecar.alsPort);
    const stray = envoyAlsStream(sidecar.alsPort, "edge-envoy-2", "anything-at-all");
    bare.send([httpEntry({ keyId: "key_open", userId: "u", code: 200 })]);
    stray.send([httpEntry({ keyId: "key_open", userId: "u", code: 200 })]);
    await expect
      .poll(() => sidecar.metricsText().then((m) => sample(m, 'als_entries_total{result="billed"}')))
      .toBe(2);
    expect(await billed(sidecar, "key_open")).toBe(2);
    for (const s of [bare, stray]) {
      s.cancel();
      s.close();
    }
    expect(sample(await sidecar.metricsText(), REFUSED)).toBe(0);
  });
});

// --- hostile metadata ----------------------------------------------------------------------------

const hostile = hostileTokenFields(TOKEN, "x-gateway-token", 70_000);

function alsBody(): Buffer {
  const serialize =
    loadEnvoyServices().envoy.service.accesslog.v3.AccessLogService.service.StreamAccessLogs.requestSerialize;
  const message = serialize({
    identifier: { node: { id: "intruder" }, log_name: "billing" },
    http_logs: { log_entry: [httpEntry({ keyId: "key_victim", userId: "victim", code: 200 })] },
  });
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(message.length, 1);
  return Buffer.concat([prefix, message]);
}

describe("hostile x-gateway-token metadata", () => {
  test("random, repeated, huge and -bin values never pass, bill nothing and never crash the sidecar", async ({
    services,
  }) => {
    await withTokenSidecar(services, async (sidecar) => {
      const body = alsBody();
      const session = http2.connect(`http://127.0.0.1:${sidecar.alsPort}`);
      session.on("error", () => {});
      try {
        await fc.assert(
          fc.asyncProperty(hostile, async (fields) => {
            const status = await callWithFields(session, STREAM_ACCESS_LOGS_PATH, fields, body);
            expect(status).not.toBe(0);
          }),
          { numRuns: 150 },
        );
      } finally {
        session.close();
      }
      await nothingRead(sidecar);
      // Still serving: Envoy's stream with the token is billed.
      const stream = envoyAlsStream(sidecar.alsPort, "edge-envoy-1", TOKEN);
      stream.send([httpEntry({ keyId: "key_after", userId: "u", code: 200 })]);
      await expect
        .poll(() => sidecar.metricsText().then((m) => sample(m, 'als_entries_total{result="billed"}')))
        .toBe(1);
      stream.cancel();
      stream.close();
    });
  }, 60_000);
});
