import { timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { createLogger } from "@gateway/common";
import { Registry } from "prom-client";
import { vi } from "vitest";
import { loadConfig } from "../src/config.js";
import { AdminAuthLimiter, addressBlock } from "../src/http/admin-auth-limiter.js";
import { type AppDeps, createHttpApp } from "../src/http/app.js";
import { KeyFormat } from "../src/keys/key-format.js";
import type { ManagementKeyAuth } from "../src/management-keys/management-key-auth.js";
import type { ManagementKeyService } from "../src/management-keys/management-keys.service.js";
import { ADMIN_TOKEN, describe, expect, startApi, test } from "./fixtures.js";

// node:crypto's named exports cannot be spied on in place under ESM; mocking the module with the real
// function wrapped in a spy lets the tests see every comparison admin-auth makes.
vi.mock("node:crypto", async (importOriginal) => {
  const actual = await importOriginal<typeof import("node:crypto")>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});
const compare = vi.mocked(timingSafeEqual);

const REFUSED = "admin_auth_refused_total";
const BLOCKED_LOG = "repeated failed admin authentication";

/**
 * The management app alone (no Postgres, no Redis): GET /api/management-keys answers an empty page
 * from a stub, which is all the guard needs behind it; every management key is unknown.
 */
async function startAdminApp(options: { maxFailures: number; windowMs: number; trustProxy?: boolean }) {
  const logs: string[] = [];
  const registry = new Registry();
  const app = createHttpApp({
    adminToken: ADMIN_TOKEN,
    adminAuthLimits: { maxFailures: options.maxFailures, windowMs: options.windowMs },
    corsOrigins: [],
    trustProxy: options.trustProxy ?? false,
    logger: createLogger({
      service: "test",
      level: "trace",
      destination: new Writable({
        write(chunk, _enc, done) {
          logs.push(String(chunk));
          done();
        },
      }),
    }),
    registry,
    managementKeyFormat: new KeyFormat("gwm"),
    managementKeyAuth: { check: async () => ({ kind: "unknown" }) } as unknown as ManagementKeyAuth,
    managementKeys: {
      list: async () => ({ data: [], next_cursor: null }),
    } as unknown as ManagementKeyService,
    readiness: {},
  } as Partial<AppDeps> as AppDeps);
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    logs,
    /** GET /api/management-keys with this token (null: none), from `from` when the proxy is trusted. */
    async call(token: string | null, from?: string) {
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (from) headers["x-forwarded-for"] = from;
      const res = await fetch(`${base}/api/management-keys`, { headers });
      const text = await res.text();
      return { status: res.status, headers: res.headers, text, body: JSON.parse(text) };
    },
    refused: async () => (await registry.getSingleMetric(REFUSED)?.get())?.values[0]?.value ?? 0,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

type AdminApp = Awaited<ReturnType<typeof startAdminApp>>;

async function withApp(options: Parameters<typeof startAdminApp>[0], run: (app: AdminApp) => Promise<void>) {
  const app = await startAdminApp(options);
  try {
    await run(app);
  } finally {
    await app.close();
  }
}

const wrong = (i: number) => `wrong-admin-token-${i}-${"z".repeat(30)}`;

describe("repeated failed admin authentication", () => {
  test("after N wrong tokens the address is answered 429 with Retry-After, before any comparison, the right token included", async () => {
    await withApp({ maxFailures: 3, windowMs: 60_000 }, async (app) => {
      for (let i = 0; i < 5; i++) expect((await app.call(null)).status).toBe(401); // guesses nothing
      expect((await app.call(ADMIN_TOKEN)).status).toBe(200);
      for (let i = 0; i < 3; i++) expect((await app.call(wrong(i))).status).toBe(401);
      expect(await app.refused()).toBe(0);

      compare.mockClear();
      for (const token of [ADMIN_TOKEN, wrong(9), null]) {
        const res = await app.call(token);
        expect(res.status).toBe(429);
        expect(res.headers.get("content-type")).toContain("application/problem+json");
        expect(res.body).toMatchObject({ status: 429, code: "RATE_LIMITED" });
        const retryAfter = Number(res.headers.get("retry-after"));
        expect(retryAfter).toBeGreaterThanOrEqual(55);
        expect(retryAfter).toBeLessThanOrEqual(60);
      }
      expect(compare).not.toHaveBeenCalled();
      expect(await app.refused()).toBe(3);
    });
  });

  test("other addresses are unaffected; the address is the one the trusted proxy appended, and an IPv6 /64 counts as one", async () => {
    await withApp({ maxFailures: 3, windowMs: 60_000, trustProxy: true }, async (app) => {
      for (let i = 0; i < 3; i++) await app.call(wrong(i), "198.51.100.7");
      expect((await app.call(ADMIN_TOKEN, "198.51.100.7")).status).toBe(429);
      // A client writes what it likes left of the proxy's entry; only the proxy's entry counts.
      expect((await app.call(ADMIN_TOKEN, "203.0.113.1, 198.51.100.7")).status).toBe(429);
      expect((await app.call(ADMIN_TOKEN, "198.51.100.8")).status).toBe(200);
      expect((await app.call(wrong(0), "198.51.100.8")).status).toBe(401);
      expect((await app.call(ADMIN_TOKEN, "198.51.100.7, 198.51.100.8")).status).toBe(200);

      for (let i = 0; i < 3; i++) await app.call(wrong(i), "2001:db8:1:2::a");
      expect((await app.call(ADMIN_TOKEN, "2001:db8:1:2:ffff::b")).status).toBe(429);
      expect((await app.call(ADMIN_TOKEN, "2001:db8:1:3::a")).status).toBe(200);
    });
  });

  test("a success does not clear the failures, and once the window has passed the address is let through", async () => {
    const windowMs = 1_000;
    await withApp({ maxFailures: 3, windowMs }, async (app) => {
      await app.call(wrong(1));
      await app.call(wrong(2));
      expect((await app.call(ADMIN_TOKEN)).status).toBe(200);
      await app.call(wrong(3));
      const lastFailureAt = Date.now();
      const refused = await app.call(ADMIN_TOKEN);
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBe(1);
      await expect
        .poll(async () => (await app.call(ADMIN_TOKEN)).status, { timeout: 5_000, interval: 100 })
        .toBe(200);
      // The address is let through once the oldest failure has left; the three new ones below are
      // counted alone only once the last of the earlier ones has left too (on a slow machine the
      // earlier failures came far enough apart that the first 200 could come before that).
      await sleep(Math.max(0, lastFailureAt + windowMs + 50 - Date.now()));
      for (let i = 0; i < 3; i++) expect((await app.call(wrong(i))).status).toBe(401);
      expect((await app.call(ADMIN_TOKEN)).status).toBe(429);
    });
  });

  test("the window slides: failures leave one by one as they age, and memory holds a bounded number of addresses", () => {
    const limiter = new AdminAuthLimiter(
      { maxFailures: 3, windowMs: 1_000 },
      new Registry(),
      createLogger({ service: "test", level: "silent" }),
    );
    for (const at of [0, 400, 800]) limiter.recordFailure("192.0.2.1", at);
    expect(limiter.blockedFor("192.0.2.1", 900)).toBe(100);
    expect(limiter.blockedFor("192.0.2.2", 900)).toBe(0);
    expect(limiter.blockedFor("192.0.2.1", 1_000)).toBe(0); // the failure at 0 has left
    limiter.recordFailure("192.0.2.1", 1_000);
    expect(limiter.blockedFor("192.0.2.1", 1_001)).toBe(399); // until the one at 400 leaves
    expect(limiter.blockedFor("192.0.2.1", 1_400)).toBe(0);

    // The least recently seen address is forgotten once 10,000 others failed since.
    for (let i = 0; i < 10_000; i++) limiter.recordFailure(`10.0.${i >> 8}.${i & 255}`, 1_300);
    expect(limiter.blockedFor("192.0.2.1", 1_301)).toBe(0);
    for (let i = 0; i < 2; i++) limiter.recordFailure("10.0.0.0", 1_300);
    expect(limiter.blockedFor("10.0.0.0", 1_301)).toBe(999);
  });

  test("one warning per address per window, naming the address and never a token", async () => {
    await withApp({ maxFailures: 3, windowMs: 60_000, trustProxy: true }, async (app) => {
      const sent: string[] = [];
      for (const from of ["198.51.100.21", "198.51.100.22"]) {
        for (let i = 0; i < 6; i++) {
          const token = `${wrong(i)}-${from}`;
          sent.push(token);
          await app.call(token, from);
        }
      }
      await app.call(ADMIN_TOKEN, "198.51.100.21");
      const logs = app.logs.join("");
      const warnings = app.logs.filter((line) => line.includes(BLOCKED_LOG)).map((line) => JSON.parse(line));
      expect(warnings).toEqual([
        expect.objectContaining({ level: 40, client_ip: "198.51.100.21", failures: 3, window_ms: 60_000 }),
        expect.objectContaining({ level: 40, client_ip: "198.51.100.22", failures: 3, window_ms: 60_000 }),
      ]);
      expect(app.logs.filter((line) => line.includes('"status":429'))).toHaveLength(7);
      for (const token of [...sent, ADMIN_TOKEN]) expect(logs).not.toContain(token);
      expect(logs).not.toContain("z".repeat(30));
    });
  });
});

describe("the admin token comparison", () => {
  test("every token, whatever its length or shared prefix, is compared as two equal-length SHA-256 digests and refused alike", async () => {
    await withApp({ maxFailures: 100, windowMs: 60_000 }, async (app) => {
      const tokens = [
        "a",
        ADMIN_TOKEN.slice(0, 20),
        ADMIN_TOKEN.slice(0, -1),
        `${ADMIN_TOKEN.slice(0, -1)}X`,
        `${ADMIN_TOKEN}0`,
        `${ADMIN_TOKEN}${ADMIN_TOKEN}`,
        "k".repeat(4_000),
        "ü".repeat(40),
      ];
      compare.mockClear();
      const answers = [];
      for (const token of tokens) {
        const res = await app.call(token);
        expect(res.status).toBe(401);
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        const { request_id: _, ...rest } = res.body;
        answers.push(rest);
      }
      expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1);
      expect(compare).toHaveBeenCalledTimes(tokens.length);
      for (const [given, expected] of compare.mock.calls) {
        expect(Buffer.isBuffer(given) && given.length).toBe(32);
        expect(Buffer.isBuffer(expected) && expected.length).toBe(32);
      }
      compare.mockClear();
      expect((await app.call(ADMIN_TOKEN)).status).toBe(200);
      expect(compare.mock.results).toEqual([{ type: "return", value: true }]);
    });
  });
});

describe("configuration", () => {
  test("ADMIN_AUTH_MAX_FAILURES and ADMIN_AUTH_FAILURE_WINDOW reach the running service, and /metrics counts refusals", async ({
    services,
  }) => {
    const api = await startApi(services, {
      ADMIN_AUTH_MAX_FAILURES: "2",
      ADMIN_AUTH_FAILURE_WINDOW: "10m",
      TRUST_PROXY: "true",
    });
    try {
      const attacker = { "x-forwarded-for": "192.0.2.66" };
      for (const token of [wrong(1), wrong(2)])
        expect((await api.request("GET", "/api/keys/alice", { token, headers: attacker })).status).toBe(401);
      const refused = await api.request("POST", "/api/keys", {
        body: { user_id: "alice", name: "k" },
        headers: attacker,
      });
      expect(refused.status).toBe(429);
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(590);
      expect(await api.rowCounts()).toMatchObject({ api_keys: 0 });
      expect((await api.request("GET", "/api/keys/alice")).status).toBe(200);
      expect(await api.metricsText()).toMatch(new RegExp(`^${REFUSED} 1$`, "m"));
    } finally {
      await api.stop();
    }
  });

  test("bad values stop the service with a message naming the variable", () => {
    const base = { DATABASE_URL: "postgres://x/y", REDIS_URL: "redis://x", ADMIN_TOKEN };
    expect(loadConfig(base)).toMatchObject({
      ADMIN_AUTH_MAX_FAILURES: 10,
      ADMIN_AUTH_FAILURE_WINDOW: 60_000,
    });
    expect(() => loadConfig({ ...base, ADMIN_AUTH_MAX_FAILURES: "0" })).toThrow(/ADMIN_AUTH_MAX_FAILURES/);
    expect(() => loadConfig({ ...base, ADMIN_AUTH_FAILURE_WINDOW: "500ms" })).toThrow(
      /ADMIN_AUTH_FAILURE_WINDOW: must be at least 1s/,
    );
    expect(() => loadConfig({ ...base, ADMIN_AUTH_FAILURE_WINDOW: "soon" })).toThrow(
      /ADMIN_AUTH_FAILURE_WINDOW/,
    );
  });

  test("an IPv6 address is counted by its /64, an IPv4 (or IPv4-mapped) address by itself", () => {
    expect(addressBlock("203.0.113.5")).toBe("203.0.113.5");
    expect(addressBlock("::ffff:203.0.113.5")).toBe("203.0.113.5");
    expect(addressBlock("2001:db8:1:2:3:4:5:6")).toBe("2001:db8:1:2::/64");
    expect(addressBlock("2001:0db8:0001:0002::9")).toBe("2001:db8:1:2::/64");
    expect(addressBlock("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressBlock("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressBlock("::1")).toBe("0:0:0:0::/64");
    expect(addressBlock("unknown")).toBe("unknown");
  });
});
