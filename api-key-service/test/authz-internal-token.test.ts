import http2 from "node:http2";
import net from "node:net";
import { createRedisClient } from "@gateway/common";
import { encodeLiteralField, frames as F, HpackDecoder } from "@gateway/h2-grpc";
import { AUTHORIZATION_CHECK_PATH, type CheckRequest, loadEnvoyServices } from "@gateway/proto";
import {
  callWithFields,
  grpcHeaders,
  hostileTokenFields,
  rawGrpcCall,
  type TestServices,
} from "@gateway/testing";
import * as grpc from "@grpc/grpc-js";
import fc from "fast-check";
import { service as healthService } from "grpc-health-check";
import { authzClient, bearer, envoyCheckRequest } from "./envoy.js";
import {
  counterTotal,
  describe,
  expect,
  GRPC_SERVERS,
  type GrpcServerKind,
  type RunningApi,
  startApi,
  test,
} from "./fixtures.js";

/**
 * INTERNAL_TOKEN on the ext_authz port: only calls carrying it as x-gateway-token are checked; any
 * other call ends UNAUTHENTICATED as its headers arrive, is counted, and costs no key lookup, no Redis
 * call and no usage row. Health stays open; without the setting everything works as before.
 */

const TOKEN = "gw-internal-0123456789abcdef0123456789abcdef";
const AUTHZ_SERVICE = "envoy.service.auth.v3.Authorization";
const UNAUTHENTICATED = 16;

async function withTokenApi(
  services: TestServices,
  grpcServer: GrpcServerKind,
  body: (api: RunningApi) => Promise<void>,
) {
  const api = await startApi(services, {
    INTERNAL_TOKEN: TOKEN,
    AUTHZ_FLUSH_INTERVAL: "100ms",
    GRPC_SERVER: grpcServer,
  });
  try {
    await body(api);
  } finally {
    await api.stop();
  }
}

/** What a refused caller must not have caused: no check, no lookup, no Redis key, no usage row. */
async function noWorkDone(api: RunningApi, services: TestServices) {
  const metrics = await api.metricsText();
  expect(counterTotal(metrics, "authz_checks_total")).toBe(0);
  expect(counterTotal(metrics, "key_cache_lookups_total")).toBe(0);
  expect(counterTotal(metrics, "key_store_queries_total")).toBe(0);
  const redis = createRedisClient({ url: services.redisUrl });
  try {
    expect(await redis.keys(`${services.redisPrefix}*`)).toEqual([]);
  } finally {
    redis.disconnect();
  }
  // Past the usage flush interval: anything counted would have been written.
  await new Promise((r) => setTimeout(r, 300));
  const [row] = await api.query(
    "select (select count(*) from authz_counts)::int as counts, (select count(*) from api_keys where last_used_at is not null)::int as used",
  );
  expect(row).toEqual({ counts: 0, used: 0 });
}

const refusedCount = (metrics: string) =>
  counterTotal(metrics, "grpc_unauthenticated_total", `service="${AUTHZ_SERVICE}"`);

/** A Check with arbitrary metadata, through grpc-js; resolves with the status code. */
function checkWith(port: number, metadata: grpc.Metadata, request: CheckRequest): Promise<number> {
  const Authorization = loadEnvoyServices().envoy.service.auth.v3.Authorization;
  const client = new Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return new Promise<number>((resolve) => {
    client.Check(request, metadata, { deadline: Date.now() + 2_000 }, (err) => {
      client.close();
      resolve(err ? err.code : 0);
    });
  });
}

function metadata(entries: [string, string | Buffer][]): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of entries) m.add(k, v);
  return m;
}

describe.each(GRPC_SERVERS)("internal token over %s", (grpcServer) => {
  test.override({ grpcServer });

  describe("ext_authz with INTERNAL_TOKEN", () => {
    test("Envoy's Check with the token is decided as before", async ({ services }) => {
      await withTokenApi(services, grpcServer, async (api) => {
        const { key } = await api.createKey();
        const allowed = await api.check(envoyCheckRequest({ headers: bearer(key) }));
        expect(allowed.status?.code).toBe(0);
        const denied = await api.check(envoyCheckRequest());
        expect(denied.denied_response?.status?.code).toBe("Unauthorized");
        expect(refusedCount(await api.metricsText())).toBe(0);
      });
    });

    test("no token, a wrong one, a near miss, two values or the token under -bin: UNAUTHENTICATED, counted, no work", async ({
      services,
    }) => {
      await withTokenApi(services, grpcServer, async (api) => {
        const { key } = await api.createKey();
        const request = envoyCheckRequest({ headers: bearer(key) });
        const attempts: [string, string | Buffer][][] = [
          [],
          [["x-gateway-token", "wrong-token-wrong-token-wrong-token-0000"]],
          [["x-gateway-token", TOKEN.slice(0, -1)]],
          [["x-gateway-token", `${TOKEN}0`]],
          [["x-gateway-token", TOKEN.toUpperCase()]],
          [["x-gateway-token", ""]],
          [
            ["x-gateway-token", TOKEN],
            ["x-gateway-token", TOKEN],
          ],
          [
            ["x-gateway-token", "other"],
            ["x-gateway-token", TOKEN],
          ],
          [["x-gateway-token-bin", Buffer.from(TOKEN)]],
          [["authorization", `Bearer ${TOKEN}`]],
        ];
        for (const entries of attempts)
          expect(await checkWith(api.grpcPort, metadata(entries), request), JSON.stringify(entries)).toBe(
            UNAUTHENTICATED,
          );
        const metrics = await api.metricsText();
        expect(refusedCount(metrics)).toBe(attempts.length);
        await noWorkDone(api, services);
        expect(api.logs.join("")).toContain("gRPC calls without a valid x-gateway-token refused");
        expect(api.logs.join("")).not.toContain(TOKEN);
        // The right token still works after all that.
        expect((await api.check(request)).status?.code).toBe(0);
      });
    });

    test("the refusal comes before the message: a call that never sends one is answered at once", async ({
      services,
    }) => {
      await withTokenApi(services, grpcServer, async (api) => {
        const session = http2.connect(`http://127.0.0.1:${api.grpcPort}`);
        session.on("error", () => {});
        try {
          const answer = await rawGrpcCall(session, grpcHeaders(AUTHORIZATION_CHECK_PATH), Buffer.alloc(0), {
            end: false,
          });
          expect(answer.grpcStatus).toBe(UNAUTHENTICATED);
          expect(answer.body.length).toBe(0);
        } finally {
          session.close();
        }
      });
    });

    test("health answers without the token (Kubernetes' gRPC probes cannot send one)", async ({
      services,
    }) => {
      await withTokenApi(services, grpcServer, async (api) => {
        const Health = grpc.makeGenericClientConstructor(healthService, "Health");
        const client = new Health(`127.0.0.1:${api.grpcPort}`, grpc.credentials.createInsecure()) as any;
        try {
          const status = await new Promise<string>((resolve, reject) =>
            client.Check({ service: AUTHZ_SERVICE }, (err: Error | null, res: { status: string }) =>
              err ? reject(err) : resolve(res.status),
            ),
          );
          expect(status).toBe("SERVING");
        } finally {
          client.close();
        }
        expect(refusedCount(await api.metricsText())).toBe(0);
      });
    });
  });

  describe("ext_authz without INTERNAL_TOKEN", () => {
    test("calls without metadata are checked as today, and a stray token changes nothing", async ({
      api,
    }) => {
      const { key } = await api.createKey();
      const bare = authzClient(api.grpcPort);
      const stray = authzClient(api.grpcPort, "anything-at-all");
      try {
        expect((await bare.check(envoyCheckRequest({ headers: bearer(key) }))).status?.code).toBe(0);
        expect((await stray.check(envoyCheckRequest({ headers: bearer(key) }))).status?.code).toBe(0);
      } finally {
        bare.close();
        stray.close();
      }
      expect(refusedCount(await api.metricsText())).toBe(0);
    });
  });

  // --- hostile metadata ----------------------------------------------------------------------------

  const hostile = hostileTokenFields(TOKEN, "x-gateway-token", 20_000);

  /** A length-prefixed CheckRequest that would be allowed, had the call been let through. */
  function checkBody(key: string): Buffer {
    const serialize = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check.requestSerialize;
    const message = serialize(envoyCheckRequest({ headers: bearer(key) }));
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    return Buffer.concat([prefix, message]);
  }

  /**
   * One call as raw frames, for bytes no HTTP/2 library sends (controls, NUL, CR, LF in values): the
   * grpc-status of the answer, "reset" when the stream was reset, "closed" when the connection was.
   */
  async function rawFramesCall(port: number, fields: [string, string][], body: Buffer): Promise<string> {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => {});
    await new Promise((resolve) => socket.once("connect", resolve));
    const block = Buffer.concat(
      [
        [":method", "POST"],
        [":scheme", "http"],
        [":path", AUTHORIZATION_CHECK_PATH],
        [":authority", "api-key-service"],
        ["content-type", "application/grpc"],
        ["te", "trailers"],
        ...fields,
      ].map(([n, v]) => encodeLiteralField(n as string, v as string)),
    );
    const headerFrames: Buffer[] = [];
    for (let at = 0; at < block.length || at === 0; at += 16_384) {
      const part = block.subarray(at, at + 16_384);
      const last = at + 16_384 >= block.length;
      headerFrames.push(F.frame(at === 0 ? F.HEADERS : F.CONTINUATION, last ? F.END_HEADERS : 0, 1, part));
    }
    socket.write(
      Buffer.concat([
        F.PREFACE,
        F.settingsFrame([]),
        ...headerFrames,
        F.frame(F.DATA, F.END_STREAM, 1, body),
      ]),
    );
    const decoder = new HpackDecoder(F.DEFAULT_HEADER_TABLE_SIZE);
    let buffered = Buffer.alloc(0);
    return new Promise<string>((resolve) => {
      const done = (outcome: string) => {
        clearTimeout(timer);
        socket.destroy();
        resolve(outcome);
      };
      const timer = setTimeout(() => done("no answer"), 3_000);
      socket.on("close", () => done("closed"));
      socket.on("data", (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        while (buffered.length >= 9) {
          const length = buffered.readUIntBE(0, 3);
          if (buffered.length < 9 + length) break;
          const type = buffered[3];
          const streamId = buffered.readUInt32BE(5) & F.MAX_STREAM_ID;
          const payload = buffered.subarray(9, 9 + length);
          buffered = buffered.subarray(9 + length);
          if (streamId !== 1) continue;
          if (type === F.RST_STREAM) return done("reset");
          if (type === F.HEADERS) {
            const status = decoder.decode(payload).find(([n]) => n === "grpc-status");
            if (status) return done(status[1]);
          }
        }
      });
    });
  }

  describe("hostile x-gateway-token metadata", () => {
    test("random, repeated, huge and -bin values never pass and never crash the service", async ({
      services,
    }) => {
      await withTokenApi(services, grpcServer, async (api) => {
        const { key } = await api.createKey();
        const body = checkBody(key);
        const session = http2.connect(`http://127.0.0.1:${api.grpcPort}`);
        session.on("error", () => {});
        let calls = 0;
        try {
          await fc.assert(
            fc.asyncProperty(hostile, async (fields) => {
              calls += 1;
              const status = await callWithFields(session, AUTHORIZATION_CHECK_PATH, fields, body);
              // Refused (16), headers too large (8), or the client could not even send them: never OK.
              expect(status).not.toBe(0);
            }),
            { numRuns: 150 },
          );
        } finally {
          session.close();
        }
        expect(calls).toBeGreaterThan(0);
        await noWorkDone(api, services);
        // Still serving, and the right token still passes.
        expect((await api.check(envoyCheckRequest({ headers: bearer(key) }))).status?.code).toBe(0);
      });
    }, 60_000);

    test("values with control bytes, sent as raw frames, are refused or reset; never accepted", async ({
      services,
    }) => {
      await withTokenApi(services, grpcServer, async (api) => {
        const { key } = await api.createKey();
        const body = checkBody(key);
        const controlled = fc
          .tuple(
            fc.nat({ max: TOKEN.length }),
            fc.constantFrom("\u0000", "\r", "\n", "\r\n", "\t", "\u007f", "\u0080", "\u00ff"),
          )
          .map(([at, c]) => TOKEN.slice(0, at) + c + TOKEN.slice(at));
        await fc.assert(
          fc.asyncProperty(
            fc.array(fc.tuple(fc.constantFrom("x-gateway-token", "x-gateway-token-bin"), controlled), {
              minLength: 1,
              maxLength: 2,
            }),
            async (fields) => {
              const outcome = await rawFramesCall(api.grpcPort, fields, body);
              expect(["16", "reset", "closed"]).toContain(outcome);
            },
          ),
          { numRuns: 60 },
        );
        // The exact token as raw frames passes: the refusals above were about the values.
        expect(await rawFramesCall(api.grpcPort, [["x-gateway-token", TOKEN]], body)).toBe("0");
        expect(counterTotal(await api.metricsText(), "authz_checks_total")).toBe(1);
      });
    }, 60_000);
  });
});
