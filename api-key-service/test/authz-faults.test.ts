import { startTcpProxy, type TcpProxy } from "@gateway/testing";
import { bearer, envoyCheckRequest, metadataOf } from "./envoy.js";
import { describe, expect, GRPC_SERVERS, type RunningApi, startApi, test } from "./fixtures.js";

/** The same URL, reached through the proxy. */
function viaProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(proxy.port);
  return u.toString();
}

async function timedCheck(api: RunningApi, key: string) {
  const started = performance.now();
  // The client waits longer than Envoy would, so that a slow answer shows up as a failed assertion
  // on `ms` rather than as a deadline error.
  const response = await api.check(envoyCheckRequest({ headers: bearer(key) }), 1_000);
  return { response, ms: performance.now() - started, reason: metadataOf(response).denied_reason };
}

describe("Redis unreachable", () => {
  test("open (default): a local limiter takes over, still limiting; Redis limiting resumes when it is back", async ({
    services,
  }) => {
    const target = new URL(services.redisUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const api = await startApi(services, {
      REDIS_URL: viaProxy(services.redisUrl, proxy),
      REDIS_TIMEOUT: "50ms",
    });
    try {
      const key = await api.createKey({ rate_limit_per_minute: 3 });
      expect((await timedCheck(api, key.key)).response.status?.code).toBe(0); // counted in Redis, and cached

      proxy.setMode("refuse");
      const during = [];
      for (let i = 0; i < 5; i++) during.push(await timedCheck(api, key.key));
      // The local limiter starts from zero: three more pass, then it refuses.
      expect(during.map((d) => d.reason ?? "allowed")).toEqual([
        "allowed",
        "allowed",
        "allowed",
        "rate_limited",
        "rate_limited",
      ]);
      for (const d of during) expect(d.ms).toBeLessThan(200);

      proxy.setMode("forward");
      // Back on Redis, which had counted one: two more pass there, then the shared limit refuses.
      await expect
        .poll(async () => (await timedCheck(api, key.key)).reason ?? "allowed", {
          timeout: 3_000,
          interval: 50,
        })
        .toBe("rate_limited");
    } finally {
      await api.stop();
      await proxy.close();
    }
  });

  test.for(GRPC_SERVERS)(
    "closed (GRPC_SERVER=%s): 503 with Retry-After, answered well before Envoy's deadline, even when Redis hangs",
    async (grpcServer, { services }) => {
      const target = new URL(services.redisUrl);
      const proxy = await startTcpProxy(target.hostname, Number(target.port));
      const api = await startApi(services, {
        REDIS_URL: viaProxy(services.redisUrl, proxy),
        RATE_LIMIT_FAILURE_MODE: "closed",
        REDIS_TIMEOUT: "50ms",
        GRPC_SERVER: grpcServer,
      });
      try {
        const key = await api.createKey();
        expect((await timedCheck(api, key.key)).response.status?.code).toBe(0);
        for (const mode of ["refuse", "blackhole"] as const) {
          proxy.setMode(mode);
          for (let i = 0; i < 3; i++) {
            const { response, ms, reason } = await timedCheck(api, key.key);
            expect(reason, mode).toBe("unavailable");
            expect(response.denied_response?.status?.code).toBe("ServiceUnavailable");
            expect(
              response.denied_response?.headers?.find((h) => h.header?.key === "retry-after")?.header?.value,
            ).toBe("1");
            expect(ms, mode).toBeLessThan(200);
          }
        }
        proxy.setMode("forward");
        await expect
          .poll(async () => (await timedCheck(api, key.key)).response.status?.code, {
            timeout: 3_000,
            interval: 50,
          })
          .toBe(0);
      } finally {
        await api.stop();
        await proxy.close();
      }
    },
  );
});

describe("Postgres unreachable", () => {
  test("cached keys keep passing, uncached ones get 503, and new keys work once it is back", async ({
    services,
  }) => {
    const target = new URL(services.databaseUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const api = await startApi(services, {
      DATABASE_URL: viaProxy(services.databaseUrl, proxy),
      KEY_LOOKUP_TIMEOUT: "100ms",
    });
    try {
      const cached = await api.createKey();
      const uncached = await api.createKey();
      expect((await timedCheck(api, cached.key)).response.status?.code).toBe(0);

      for (const mode of ["refuse", "blackhole"] as const) {
        proxy.setMode(mode);
        const a = await timedCheck(api, cached.key);
        expect(a.response.status?.code, mode).toBe(0);
        const b = await timedCheck(api, uncached.key);
        expect(b.reason, mode).toBe("unavailable");
        expect(b.response.denied_response?.status?.code).toBe("ServiceUnavailable");
        expect(b.ms, mode).toBeLessThan(200);
      }

      // The management API says so too, with a 503 the caller may retry, not a 500.
      const rest = await api.request("POST", "/api/keys", { body: { user_id: "u1", name: "during outage" } });
      expect(rest.status).toBe(503);
      expect(rest.body.code).toBe("UNAVAILABLE");
      expect(rest.headers.get("retry-after")).toBe("5");

      proxy.setMode("forward");
      const backAt = performance.now();
      await expect
        .poll(async () => (await timedCheck(api, uncached.key)).response.status?.code, {
          timeout: 2_000,
          interval: 50,
        })
        .toBe(0);
      console.info(
        `an uncached key passed ${(performance.now() - backAt).toFixed(0)} ms after Postgres returned`,
      );
    } finally {
      await api.stop();
      await proxy.close();
    }
  });
});
