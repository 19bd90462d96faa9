import { createLogger } from "@gateway/common";
import { test as withServices } from "@gateway/testing";
import fc from "fast-check";
import { Redis } from "ioredis";
import { Registry } from "prom-client";
import { describe, expect } from "vitest";
import { KeyChecker } from "../src/authz/check-key.js";
import type { AuthKey, PlanTerms } from "../src/authz/decision.js";
import type { KeyLookup } from "../src/authz/key-lookup.js";
import { LocalRateLimiter } from "../src/authz/local-limiter.js";
import { AuthzMetrics } from "../src/authz/metrics.js";
import type { QuotaCrossing } from "../src/authz/quota-alerts.js";
import { type QuotaBaseline, RedisRateLimiter } from "../src/authz/redis-limiter.js";
import type { LimitOptions, Limits } from "../src/authz/sliding-window.js";
import type { UsageRecorder } from "../src/authz/usage-recorder.js";
import { hashKey, KeyFormat } from "../src/keys/key-format.js";

const format = new KeyFormat("gw");
const BIG = 1_000_000_000;

function authKey(plan: Partial<PlanTerms> | null, fields: Partial<AuthKey> = {}): AuthKey {
  return {
    id: "key_a",
    userId: "acme",
    scopes: new Set(),
    limits: { perMinute: BIG, perDay: BIG },
    stripeCustomerId: null,
    enabled: true,
    expiresAt: null,
    revokedAt: null,
    graceEndsAt: null,
    plan: plan && { id: "pro", monthlyQuota: 5, overage: "block", alertThresholds: [], ...plan },
    billingAnchor: null,
    suspendedAt: null,
    ...fields,
  };
}

interface Harness {
  secret: string;
  setKey: (key: AuthKey) => void;
  setNow: (iso: string) => void;
  /** What the quota counters are rebuilt from, by period start; counts its calls. */
  baseline: Map<number, number>;
  baselineCalls: () => number;
  crossings: QuotaCrossing[];
  recorded: [string, boolean, number][];
  checker: KeyChecker;
  check: (cost?: number) => ReturnType<KeyChecker["checkSecret"]>;
  redisUrl: string;
  prefix: string;
}

const test = withServices.extend<{ harness: Harness }>({
  harness: async ({ services }, use) => {
    const baseline = new Map<number, number>();
    let calls = 0;
    const quotaBaseline: QuotaBaseline = async (_user, start) => {
      calls += 1;
      return baseline.get(start) ?? 0;
    };
    const limiter = new RedisRateLimiter({
      url: services.redisUrl,
      keyPrefix: services.redisPrefix,
      timeoutMs: 1_000,
      onError: () => {},
      quotaBaseline,
    });
    await limiter.start(5_000);
    const secret = format.generate();
    let key = authKey({});
    let now = Date.parse("2026-02-10T12:00:00Z");
    const crossings: QuotaCrossing[] = [];
    const recorded: [string, boolean, number][] = [];
    const checker = new KeyChecker({
      format,
      credentialHeaders: { authorization: "authorization", apiKey: "x-api-key" },
      lookup: {
        find: async (hash: string) => (hash === hashKey(secret) ? key : null),
      } as unknown as KeyLookup,
      limiter,
      fallback: null,
      usage: {
        record: (id: string, allowed: boolean, _now: number, units = 1) =>
          recorded.push([id, allowed, units]),
      } as unknown as UsageRecorder,
      metrics: new AuthzMetrics(new Registry()),
      logger: createLogger({ service: "test", level: "silent" }),
      quotaAlerts: { crossed: (c) => crossings.push(c) },
      now: () => now,
    });
    await use({
      secret,
      setKey: (k) => (key = k),
      setNow: (iso) => (now = Date.parse(iso)),
      baseline,
      baselineCalls: () => calls,
      crossings,
      recorded,
      checker,
      check: (cost = 1) => checker.checkSecret(secret, { requiredScopes: [], cost }),
      redisUrl: services.redisUrl,
      prefix: services.redisPrefix,
    });
    limiter.stop();
  },
});

const outcome = (d: Awaited<ReturnType<KeyChecker["checkSecret"]>>) => (d.allowed ? "allowed" : d.reason);

describe("the monthly quota in the check", () => {
  test("admits exactly the quota in units; a refusal consumes nothing; past it, 429 quota_exceeded until the period ends", async ({
    harness,
  }) => {
    const { check, setNow } = harness;
    setNow("2026-02-27T23:59:00Z");
    expect(outcome(await check(3))).toBe("allowed");
    expect(outcome(await check(3))).toBe("QUOTA_EXCEEDED"); // 6 > 5: refused, nothing counted
    const last = await check(2);
    expect(last).toMatchObject({ allowed: true, limits: { quota: { limit: 5, used: 5, exceeded: false } } });
    const refused = await check(1);
    expect(refused).toMatchObject({
      allowed: false,
      reason: "QUOTA_EXCEEDED",
      limits: { quota: { used: 5 } },
    });
    // Calendar months in UTC: the period ends at March 1st, 00:00, a day and a minute later.
    expect(!refused.allowed && refused.retryAfterSeconds).toBe(86_460);
    setNow("2026-03-01T00:00:00Z");
    expect(await check(5)).toMatchObject({ allowed: true, limits: { quota: { used: 5 } } });
  });

  test("an anchor on the 31st: February's period ends on the 28th", async ({ harness }) => {
    const { check, setNow, setKey } = harness;
    setKey(authKey({}, { billingAnchor: Date.parse("2025-10-31T00:00:00Z") }));
    setNow("2026-02-10T00:00:00Z");
    expect(outcome(await check(5))).toBe("allowed");
    const refused = await check(1);
    expect(outcome(refused)).toBe("QUOTA_EXCEEDED");
    expect(!refused.allowed && refused.retryAfterSeconds).toBe(18 * 86_400);
    setNow("2026-02-28T00:00:00Z");
    expect(outcome(await check(5))).toBe("allowed");
    setNow("2026-03-30T23:59:59Z");
    expect(outcome(await check(1))).toBe("QUOTA_EXCEEDED");
    setNow("2026-03-31T00:00:00Z");
    expect(outcome(await check(1))).toBe("allowed");
  });

  test("a plan change mid-period keeps what was used", async ({ harness }) => {
    const { check, setKey } = harness;
    expect(outcome(await check(5))).toBe("allowed");
    expect(outcome(await check(1))).toBe("QUOTA_EXCEEDED");
    setKey(authKey({ id: "bigger", monthlyQuota: 8 }));
    expect(await check(3)).toMatchObject({ allowed: true, limits: { quota: { limit: 8, used: 8 } } });
    expect(outcome(await check(1))).toBe("QUOTA_EXCEEDED");
    setKey(authKey(null)); // off the plan: no quota at all
    expect(outcome(await check(100))).toBe("allowed");
  });

  test("overage billed: admitted past the quota and still counted", async ({ harness }) => {
    const { check, setKey } = harness;
    setKey(authKey({ overage: "bill" }));
    for (let i = 0; i < 4; i++) expect(outcome(await check(2))).toBe("allowed");
    expect(await check(1)).toMatchObject({ allowed: true, limits: { quota: { used: 9, exceeded: false } } });
  });

  test("a refusal by the minute limit consumes nothing from the quota, and each unit is recorded", async ({
    harness,
  }) => {
    const { check, setKey, recorded } = harness;
    setKey(authKey({ monthlyQuota: 100 }, { limits: { perMinute: 4, perDay: BIG } }));
    expect(outcome(await check(3))).toBe("allowed");
    expect(outcome(await check(3))).toBe("RATE_LIMITED");
    expect(await check(1)).toMatchObject({ allowed: true, limits: { quota: { used: 4 } } });
    expect(recorded).toEqual([
      ["key_a", true, 3],
      ["key_a", false, 3], // a refusal's units are not added anywhere (UsageRecorder counts allowed units only)
      ["key_a", true, 1],
    ]);
  });

  test("each alert threshold is reported once, when usage passes it", async ({ harness }) => {
    const { check, setKey, crossings } = harness;
    setKey(authKey({ monthlyQuota: 10, alertThresholds: [0.5, 0.8, 1] }));
    await check(4);
    expect(crossings).toEqual([]);
    await check(1); // 5 of 10
    await check(4); // 9: passes 0.8
    await check(3); // refused: nothing passes
    await check(1); // 10: passes 1
    await check(1); // refused
    expect(crossings.map((c) => [c.threshold, c.used])).toEqual([
      [0.5, 5],
      [0.8, 9],
      [1, 10],
    ]);
    expect(crossings[0]).toMatchObject({
      userId: "acme",
      planId: "pro",
      monthlyQuota: 10,
      periodStart: new Date("2026-02-01T00:00:00Z"),
      periodEnd: new Date("2026-03-01T00:00:00Z"),
    });
  });

  test("a missing counter is rebuilt from what Postgres holds, once, before anyone is admitted", async ({
    harness,
  }) => {
    const { check, baseline, baselineCalls, redisUrl, prefix } = harness;
    baseline.set(Date.parse("2026-02-01T00:00:00Z"), 3);
    const results = await Promise.all(Array.from({ length: 20 }, () => check(1)));
    expect(results.filter((r) => r.allowed)).toHaveLength(2);
    expect(results.filter((r) => !r.allowed && r.reason === "QUOTA_EXCEEDED")).toHaveLength(18);
    expect(baselineCalls()).toBe(1);

    // Redis loses everything (a flush, a failover without the data): the next check rebuilds again.
    const redis = new Redis(redisUrl);
    try {
      const keys = await redis.keys(`${prefix}*`);
      expect(keys.length).toBeGreaterThan(0);
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
    baseline.set(Date.parse("2026-02-01T00:00:00Z"), 5);
    expect(outcome(await check(1))).toBe("QUOTA_EXCEEDED");
    expect(baselineCalls()).toBe(2);
  });

  test("replicas that find the counter missing at once set it once (SET NX), never adding twice", async ({
    harness,
    services,
  }) => {
    const { baseline } = harness;
    const start = Date.parse("2026-02-01T00:00:00Z");
    baseline.set(start, 4);
    const replicas = [0, 1].map(
      () =>
        new RedisRateLimiter({
          url: services.redisUrl,
          keyPrefix: services.redisPrefix,
          timeoutMs: 1_000,
          onError: () => {},
          quotaBaseline: async () => 4,
        }),
    );
    await Promise.all(replicas.map((r) => r.start(5_000)));
    try {
      const quota = {
        limit: 10,
        periodStart: start,
        periodEnd: Date.parse("2026-03-01T00:00:00Z"),
        block: true,
      };
      const now = start + 1_000;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          (replicas[i % 2] as RedisRateLimiter).check(
            { id: `k${i % 3}`, userId: "acme" },
            { perMinute: BIG, perDay: BIG },
            now,
            { quota },
          ),
        ),
      );
      expect(results.filter((r) => r.allowed)).toHaveLength(6);
      expect(Math.max(...results.map((r) => r.quota?.used ?? 0))).toBe(10);
    } finally {
      for (const r of replicas) r.stop();
    }
  });
});

describe("the Redis script and the local fallback", () => {
  test("give the same answers for any sequence of checks, costs, quotas and clock steps", async ({
    services,
  }) => {
    const baseline: QuotaBaseline = async () => 0;
    const redis = new RedisRateLimiter({
      url: services.redisUrl,
      keyPrefix: services.redisPrefix,
      timeoutMs: 1_000,
      onError: () => {},
      quotaBaseline: baseline,
    });
    await redis.start(5_000);
    let run = 0;
    const step = fc.record({
      key: fc.constantFrom("k1", "k2"),
      cost: fc.integer({ min: 1, max: 6 }),
      consume: fc.boolean(),
      advanceMs: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 0, max: 90_000 }),
        fc.integer({ min: 0, max: 20 * 86_400_000 }),
      ),
    });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.record({
            perMinute: fc.integer({ min: 1, max: 20 }),
            perDay: fc.integer({ min: 1, max: 60 }),
            quota: fc.integer({ min: 1, max: 40 }),
            block: fc.boolean(),
          }),
          fc.array(step, { minLength: 1, maxLength: 30 }),
          async (settings, steps) => {
            run += 1;
            const local = new LocalRateLimiter(baseline);
            const user = `user${run}`;
            const limits: Limits = { perMinute: settings.perMinute, perDay: settings.perDay };
            let now = Date.parse("2026-01-20T00:00:00Z");
            for (const s of steps) {
              now += s.advanceMs;
              const month = new Date(now);
              const periodStart = Date.UTC(month.getUTCFullYear(), month.getUTCMonth(), 1);
              const periodEnd = Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1);
              const options: LimitOptions = {
                cost: s.cost,
                consume: s.consume,
                quota: { limit: settings.quota, periodStart, periodEnd, block: settings.block },
              };
              const key = { id: `${user}-${s.key}`, userId: user };
              const [a, b] = await Promise.all([
                redis.check(key, limits, now, options),
                local.check(key, limits, now, options),
              ]);
              const view = (r: typeof a) => [r.allowed, r.minute.used, r.day.used, r.retryAfterMs, r.quota];
              expect(view(a)).toEqual(view(b));
            }
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      redis.stop();
    }
  });
});
