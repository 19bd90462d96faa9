import { test as withServices } from "@gateway/testing";
import { Redis } from "ioredis";
import { describe, expect, vi } from "vitest";
import type { RedisRateLimiter } from "../src/authz/redis-limiter.js";
import type { LimitKey, LimitResult, Limits, QuotaRequest } from "../src/authz/sliding-window.js";
import { countScriptCalls, startRedisLimiter } from "./limiter-fixture.js";

interface Leasing {
  limiter: RedisRateLimiter;
  calls: () => number;
  redis: Redis;
  /** A window's stored total (`t`) and the quota counter's units, as Redis holds them. */
  stored: (key: LimitKey, quota?: QuotaRequest) => Promise<{ minute: number; day: number; quota: number }>;
}

const test = withServices.extend<{ leasing: Leasing }>({
  leasing: async ({ services }, use) => {
    const limiter = await startRedisLimiter(services, { leases: true });
    const redis = new Redis(services.redisUrl);
    const stored: Leasing["stored"] = async (key, quota) => {
      const tagged = `${services.redisPrefix}rl:{${key.userId}}:${key.id}`;
      const [minute, day, counter] = await Promise.all([
        redis.hget(`${tagged}:m`, "t"),
        redis.hget(`${tagged}:d`, "t"),
        quota ? redis.get(limiter.quotaKey(key.userId, quota.periodStart)) : Promise.resolve("1"),
      ]);
      return { minute: Number(minute ?? 0), day: Number(day ?? 0), quota: Number(counter ?? 1) - 1 };
    };
    await use({ limiter, calls: countScriptCalls(limiter), redis, stored });
    limiter.stop();
    redis.disconnect();
  },
});

const big = 1_000_000;
const limits: Limits = { perMinute: 100_000, perDay: big };
/** 250 ms into a second, so a burst of checks 1 ms apart stays in one minute bucket. */
const T0 = Date.UTC(2026, 10, 21, 12, 0, 0, 250);

/** A quota of a million units over a period holding every test's time; `block`: refuse past it. */
function quotaOf(block: boolean): QuotaRequest {
  return { limit: big, periodStart: Date.UTC(2026, 0, 1), periodEnd: Date.UTC(2100, 0, 1), block };
}

async function oneAfterAnother(
  limiter: RedisRateLimiter,
  key: LimitKey,
  times: number[],
  terms = limits,
  quota?: QuotaRequest,
): Promise<LimitResult[]> {
  const results = [];
  for (const now of times) results.push(await limiter.check(key, terms, now, { quota }));
  return results;
}

/** Resolves once the clock has passed `at` (a timer may fire a little before its time by Date.now()). */
async function until(at: number): Promise<void> {
  while (Date.now() < at) await new Promise((resolve) => setTimeout(resolve, at - Date.now() + 1));
}

/** Resolves `ms` after the current one-second bucket has ended. */
function afterBucket(ms: number): Promise<void> {
  return until(Date.now() - (Date.now() % 1_000) + 1_000 + ms);
}

describe("leases of a hot key's units", () => {
  test("a hot key's checks are admitted from a lease, with the counts of checks one after another", async ({
    leasing,
  }) => {
    const key = { id: "hot", userId: "u_hot" };
    // At the clock's time, as the service checks: the keeper's timer retires leases by it.
    await afterBucket(20);
    const start = Date.now();
    const results = await oneAfterAnother(
      leasing.limiter,
      key,
      Array.from({ length: 200 }, (_, i) => start + i),
    );
    expect(results.every((r) => r.allowed)).toBe(true);
    expect(results.map((r) => r.minute.used)).toEqual(results.map((_, i) => i + 1));
    expect(results.map((r) => r.day.used)).toEqual(results.map((_, i) => i + 1));
    // Each check's reset is its own: 61 s after the bucket began, from its own arrival.
    expect(results.map((r) => r.minute.resetMs)).toEqual(results.map((_, i) => 61_000 - (start % 1_000) - i));
    expect(leasing.calls()).toBeLessThan(20);
    // Redis holds the lease's units too, counted ahead of the checks that take them.
    expect((await leasing.stored(key)).minute).toBeGreaterThan(200);

    // A read, or a check of another cost, goes to Redis and reports the units handed out, not those
    // still leased.
    const calls = leasing.calls();
    const read = await leasing.limiter.check(key, limits, start + 200, { consume: false });
    const costly = await leasing.limiter.check(key, limits, start + 201, { cost: 5 });
    expect(leasing.calls()).toBe(calls + 2);
    expect([read.minute.used, read.day.used]).toEqual([200, 200]);
    expect([costly.allowed, costly.minute.used, costly.day.used]).toEqual([true, 205, 205]);
    const next = await leasing.limiter.check(key, limits, start + 202);
    expect([next.minute.used, next.day.used]).toEqual([206, 206]);
  });

  test("a key with little left under its limit is not leased to", async ({ leasing }) => {
    const key = { id: "tight", userId: "u_tight" };
    const tight = { perMinute: 60, perDay: big };
    const results = await oneAfterAnother(
      leasing.limiter,
      key,
      Array.from({ length: 70 }, (_, i) => T0 + i),
      tight,
    );
    expect(leasing.calls()).toBe(70);
    expect(results.filter((r) => r.allowed)).toHaveLength(60);
  });

  test("a check on a blocking quota is never leased to: the quota refuses only what is used", async ({
    leasing,
  }) => {
    const key = { id: "blocking", userId: "u_blocking" };
    const quota = quotaOf(true);
    const results = await oneAfterAnother(
      leasing.limiter,
      key,
      Array.from({ length: 50 }, (_, i) => T0 + i),
      limits,
      quota,
    );
    expect(results.every((r) => r.allowed)).toBe(true);
    // One script call per check (and the counter's rebuild before the first).
    expect(leasing.calls()).toBeGreaterThanOrEqual(50);
    expect(await leasing.stored(key, quota)).toEqual({ minute: 50, day: 50, quota: 50 });
  });

  test("two replicas leasing one key's units never admit more than its limit, and admit all of it", async ({
    services,
    leasing,
  }) => {
    const other = await startRedisLimiter(services, { leases: true });
    try {
      const key = { id: "shared", userId: "u_shared" };
      const shared = { perMinute: 3_000, perDay: big };
      let admitted = 0;
      const replicas = [leasing.limiter, other];
      // Bursts of 20 concurrent checks, from each replica in turn, all in one second: 5,000 checks.
      for (let burst = 0; burst < 250; burst++) {
        const replica = replicas[burst % 2] ?? other;
        const now = T0 + Math.floor(burst * 2.5);
        const results = await Promise.all(
          Array.from({ length: 20 }, () => replica.check({ ...key }, shared, now)),
        );
        admitted += results.filter((r) => r.allowed).length;
        expect(admitted).toBeLessThanOrEqual(3_000);
      }
      expect(admitted).toBe(3_000);
      expect((await leasing.stored(key)).minute).toBe(3_000);
    } finally {
      other.stop();
    }
  });

  test("unused units and the next second's lease are given back once their second has ended", async ({
    leasing,
  }) => {
    const key = { id: "given-back", userId: "u_given_back" };
    const quota = quotaOf(false);
    await afterBucket(20);
    const start = Date.now();
    const results = await oneAfterAnother(
      leasing.limiter,
      key,
      Array.from({ length: 100 }, (_, i) => start + Math.floor(i / 10)),
      limits,
      quota,
    );
    expect(results.every((r) => r.allowed)).toBe(true);
    expect(results.at(-1)?.quota?.used).toBe(100);
    // Leased ahead of the checks: more than they took.
    expect((await leasing.stored(key, quota)).minute).toBeGreaterThan(100);
    // The second ends: what is left of its lease goes back, and the lease asked for the next second,
    // unused, goes back after that one (2 ms into the second after it, or as soon as a busy event
    // loop runs that beat).
    await until(start - (start % 1_000) + 2_100);
    await vi.waitFor(
      async () => expect(await leasing.stored(key, quota)).toEqual({ minute: 100, day: 100, quota: 100 }),
      { timeout: 2_000, interval: 50 },
    );
  });

  test("a hot key's lease for the next second is there before it begins", async ({ leasing }) => {
    const key = { id: "ahead", userId: "u_ahead" };
    await afterBucket(20);
    const start = Date.now();
    await oneAfterAnother(
      leasing.limiter,
      key,
      Array.from({ length: 50 }, () => start),
    );
    // The beat asks 4 ms before the second begins; a busy test worker may run it late, and a late
    // beat asks all the same. No check of the new second comes before this one.
    await afterBucket(300);
    const calls = leasing.calls();
    const first = await leasing.limiter.check(key, limits, Date.now());
    expect(first.allowed).toBe(true);
    expect(first.minute.used).toBe(51);
    expect(leasing.calls()).toBe(calls);
  });
});
