import { startTcpProxy, type TcpProxy, type TestServices } from "@gateway/testing";
import { TRANSPORTS } from "./decision-transports.js";
import { describe, expect, type RunningApi, startApi, test } from "./fixtures.js";

/**
 * A stopped Redis or Postgres, through every way a decision is asked for (Envoy's gRPC Check on
 * either gRPC server, the forward-auth endpoint): the same decisions, as each gateway receives them
 * (docs/AUTHZ.md "When Redis or Postgres fails").
 */

/** The same URL, reached through the proxy. */
function viaProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(proxy.port);
  return u.toString();
}

const SETTING = { redisUrl: "REDIS_URL", databaseUrl: "DATABASE_URL" } as const;

/**
 * Runs `body` against an api-key-service that reaches Redis or Postgres through a proxy the test can
 * cut (`proxy.setMode`), with `env` as its further settings; stops both after.
 */
async function withProxied(
  services: TestServices,
  dependency: keyof typeof SETTING,
  env: Record<string, string>,
  body: (api: RunningApi, proxy: TcpProxy) => Promise<void>,
): Promise<void> {
  const target = new URL(services[dependency]);
  const proxy = await startTcpProxy(target.hostname, Number(target.port));
  const api = await startApi(services, {
    ...env,
    [SETTING[dependency]]: viaProxy(services[dependency], proxy),
  });
  try {
    await body(api, proxy);
  } finally {
    await api.stop();
    await proxy.close();
  }
}

describe.each(TRANSPORTS)("$name", (transport) => {
  describe("Redis unreachable", () => {
    test("open (default): a local limiter takes over, still limiting; Redis limiting resumes when it is back", async ({
      services,
    }) => {
      await withProxied(
        services,
        "redisUrl",
        { ...transport.env, REDIS_TIMEOUT: "50ms" },
        async (api, proxy) => {
          const key = await api.createKey({ rate_limit_per_minute: 3 });
          expect((await transport.ask(api, key.key)).outcome).toBe("allowed"); // counted in Redis, and cached

          proxy.setMode("refuse");
          const during = [];
          for (let i = 0; i < 5; i++) during.push(await transport.ask(api, key.key));
          // The local limiter starts from zero: three more pass, then it refuses.
          expect(during.map((d) => d.outcome)).toEqual([
            "allowed",
            "allowed",
            "allowed",
            "rate_limited",
            "rate_limited",
          ]);
          expect(during[3]?.status).toBe(429);
          expect(Number(during[3]?.headers["retry-after"])).toBeGreaterThanOrEqual(1);
          for (const d of during) expect(d.ms).toBeLessThan(transport.promptMs);

          proxy.setMode("forward");
          // Back on Redis, which had counted one: two more pass there, then the shared limit refuses.
          await expect
            .poll(async () => (await transport.ask(api, key.key)).outcome, { timeout: 3_000, interval: 50 })
            .toBe("rate_limited");
        },
      );
    });

    test("closed: 503 with Retry-After: 1, answered promptly whether Redis refuses or hangs; back when it returns", async ({
      services,
    }) => {
      await withProxied(
        services,
        "redisUrl",
        { ...transport.env, RATE_LIMIT_FAILURE_MODE: "closed", REDIS_TIMEOUT: "50ms" },
        async (api, proxy) => {
          const key = await api.createKey();
          expect((await transport.ask(api, key.key)).outcome).toBe("allowed");
          for (const mode of ["refuse", "blackhole"] as const) {
            proxy.setMode(mode);
            for (let i = 0; i < 3; i++) {
              const { outcome, status, headers, ms } = await transport.ask(api, key.key);
              expect(outcome, mode).toBe("unavailable");
              expect(status).toBe(503);
              expect(headers["retry-after"]).toBe("1");
              expect(headers["content-type"]).toBe("application/json");
              expect(ms, mode).toBeLessThan(transport.promptMs);
            }
          }
          proxy.setMode("forward");
          await expect
            .poll(async () => (await transport.ask(api, key.key)).status, { timeout: 3_000, interval: 50 })
            .toBe(200);
        },
      );
    });
  });

  describe("Postgres unreachable", () => {
    test("cached keys keep passing, uncached ones get 503 with Retry-After, and pass once it is back", async ({
      services,
    }) => {
      await withProxied(
        services,
        "databaseUrl",
        { ...transport.env, KEY_LOOKUP_TIMEOUT: "100ms" },
        async (api, proxy) => {
          const cached = await api.createKey();
          const uncached = await api.createKey();
          expect((await transport.ask(api, cached.key)).outcome).toBe("allowed");

          for (const mode of ["refuse", "blackhole"] as const) {
            proxy.setMode(mode);
            const a = await transport.ask(api, cached.key);
            expect(a.status, mode).toBe(200);
            const b = await transport.ask(api, uncached.key);
            expect(b.outcome, mode).toBe("unavailable");
            expect(b.status).toBe(503);
            expect(b.headers["retry-after"]).toBe("1");
            expect(b.ms, mode).toBeLessThan(transport.promptMs);
          }

          // The management API says so too, with a 503 the caller may retry, not a 500.
          const rest = await api.request("POST", "/api/keys", {
            body: { user_id: "u1", name: "during outage" },
          });
          expect(rest.status).toBe(503);
          expect(rest.body.code).toBe("UNAVAILABLE");
          expect(rest.headers.get("retry-after")).toBe("5");

          proxy.setMode("forward");
          const backAt = performance.now();
          await expect
            .poll(async () => (await transport.ask(api, uncached.key)).status, {
              timeout: 3_000,
              interval: 50,
            })
            .toBe(200);
          console.info(
            `${transport.name}: an uncached key passed ${(performance.now() - backAt).toFixed(0)} ms after Postgres returned`,
          );
        },
      );
    });
  });
});
