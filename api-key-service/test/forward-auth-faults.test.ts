import { startTcpProxy, type TcpProxy } from "@gateway/testing";
import { describe, expect, type RunningApi, startApi, test } from "./fixtures.js";
import { bearerHeader, forwardAuth } from "./forward-auth-client.js";

/**
 * The forward-auth endpoint behind a stopped Redis or Postgres fails as Check does (authz-faults.test.ts,
 * docs/AUTHZ.md "When Redis or Postgres fails"): the same decisions, as HTTP answers.
 */

/** The same URL, reached through the proxy. */
function viaProxy(url: string, proxy: TcpProxy): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(proxy.port);
  return u.toString();
}

async function timedAsk(api: RunningApi, key: string) {
  const started = performance.now();
  const answer = await forwardAuth(api.forwardAuthUrl, { headers: [bearerHeader(key)] });
  return { answer, ms: performance.now() - started, code: answer.body?.error?.code ?? "allowed" };
}

/** Well inside a gateway's timeout for the auth call, on a loaded test machine (the benchmark measures). */
const PROMPT_MS = 500;

describe("forward-auth with Redis unreachable", () => {
  test("open (default): the local limiter takes over, still limiting", async ({ services }) => {
    const target = new URL(services.redisUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const api = await startApi(services, {
      REDIS_URL: viaProxy(services.redisUrl, proxy),
      REDIS_TIMEOUT: "50ms",
    });
    try {
      const key = await api.createKey({ rate_limit_per_minute: 3 });
      expect((await timedAsk(api, key.key)).code).toBe("allowed");
      proxy.setMode("refuse");
      const during = [];
      for (let i = 0; i < 5; i++) during.push(await timedAsk(api, key.key));
      expect(during.map((d) => d.code)).toEqual([
        "allowed",
        "allowed",
        "allowed",
        "rate_limited",
        "rate_limited",
      ]);
      expect(during[3]?.answer.status).toBe(429);
      expect(Number(during[3]?.answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
      for (const d of during) expect(d.ms).toBeLessThan(PROMPT_MS);
    } finally {
      await api.stop();
      await proxy.close();
    }
  });

  test("closed: 503 unavailable with Retry-After: 1, whether Redis refuses or hangs; back when it returns", async ({
    services,
  }) => {
    const target = new URL(services.redisUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const api = await startApi(services, {
      REDIS_URL: viaProxy(services.redisUrl, proxy),
      RATE_LIMIT_FAILURE_MODE: "closed",
      REDIS_TIMEOUT: "50ms",
    });
    try {
      const key = await api.createKey();
      expect((await timedAsk(api, key.key)).code).toBe("allowed");
      for (const mode of ["refuse", "blackhole"] as const) {
        proxy.setMode(mode);
        for (let i = 0; i < 3; i++) {
          const { answer, ms, code } = await timedAsk(api, key.key);
          expect(code, mode).toBe("unavailable");
          expect(answer.status).toBe(503);
          expect(answer.headers["retry-after"]).toBe("1");
          expect(answer.headers["content-type"]).toBe("application/json");
          expect(ms, mode).toBeLessThan(PROMPT_MS);
        }
      }
      proxy.setMode("forward");
      await expect
        .poll(async () => (await timedAsk(api, key.key)).answer.status, { timeout: 3_000, interval: 50 })
        .toBe(200);
    } finally {
      await api.stop();
      await proxy.close();
    }
  });
});

describe("forward-auth with Postgres unreachable", () => {
  test("cached keys keep passing, uncached ones get 503 with Retry-After, and pass once it is back", async ({
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
      expect((await timedAsk(api, cached.key)).code).toBe("allowed");
      for (const mode of ["refuse", "blackhole"] as const) {
        proxy.setMode(mode);
        const a = await timedAsk(api, cached.key);
        expect(a.answer.status, mode).toBe(200);
        const b = await timedAsk(api, uncached.key);
        expect(b.code, mode).toBe("unavailable");
        expect(b.answer.status).toBe(503);
        expect(b.answer.headers["retry-after"]).toBe("1");
        expect(b.ms, mode).toBeLessThan(PROMPT_MS);
      }
      proxy.setMode("forward");
      await expect
        .poll(async () => (await timedAsk(api, uncached.key)).answer.status, { timeout: 3_000, interval: 50 })
        .toBe(200);
    } finally {
      await api.stop();
      await proxy.close();
    }
  });
});
