import { test as withServices } from "@gateway/testing";
import fc from "fast-check";
import { Redis } from "ioredis";
import { describe, expect } from "vitest";
import { LocalRateLimiter } from "../src/authz/local-limiter.js";
import type { RedisRateLimiter } from "../src/authz/redis-limiter.js";
import type { LimitOptions, LimitResult, Limits } from "../src/authz/sliding-window.js";
import { countScriptCalls, startRedisLimiter } from "./limiter-fixture.js";

type Check = (keyId: string, limits: Limits, nowMs: number, options?: LimitOptions) => Promise<LimitResult>;

/** Each case runs against the Redis script and against the local fallback: they must agree. */
const test = withServices.extend<{ limiters: Record<"redis" | "local", Check> }>({
  limiters: async ({ services }, use) => {
    const remote = await startRedisLimiter(services);
    const local = new LocalRateLimiter(async () => 0);
    await use({
      redis: async (k, l, n, o) => remote.check({ id: k, userId: `u_${k}` }, l, n, o),
      local: async (k, l, n, o) => local.check({ id: k, userId: `u_${k}` }, l, n, o),
    });
    remote.stop();
  },
});

const T0 = Date.UTC(2026, 10, 21, 12, 0, 0, 250);
const big = 1_000_000;

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number) {
  let s = seed;
  return () => {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    return s / 2 ** 31;
  };
}

for (const kind of ["redis", "local"] as const) {
  describe(`${kind} limiter`, () => {
    test("admits the limit, then refuses without counting the refusals", async ({ limiters }) => {
      const check = limiters[kind];
      const limits = { perMinute: 3, perDay: big };
      const results = [];
      for (let i = 0; i < 10; i++) results.push(await check("k1", limits, T0 + i * 100));
      expect(results.map((r) => r.allowed)).toEqual([
        true,
        true,
        true,
        false,
        false,
        false,
        false,
        false,
        false,
        false,
      ]);
      expect(results.map((r) => r.minute.used)).toEqual([1, 2, 3, 3, 3, 3, 3, 3, 3, 3]);
      // The first three leave the window 61 s after their bucket; then exactly three more fit.
      const later = [];
      for (let i = 0; i < 5; i++) later.push((await check("k1", limits, T0 + 61_000 + i)).allowed);
      expect(later).toEqual([true, true, true, false, false]);
    });

    test("never admits more than the limit in any 60-second interval, under random bursts", async ({
      limiters,
    }) => {
      const check = limiters[kind];
      const limit = 20;
      const rand = random(7);
      const admitted: number[] = [];
      let refusedWithRoom = 0;
      let now = T0;
      for (let i = 0; i < 1500; i++) {
        now += rand() < 0.1 ? Math.floor(rand() * 20_000) : Math.floor(rand() * 300);
        const result = await check("k2", { perMinute: limit, perDay: big }, now);
        if (result.allowed) admitted.push(now);
        else {
          // A refusal is only justified by `limit` admissions within the last 61 seconds.
          const recent = admitted.filter((t) => t > now - 61_000).length;
          if (recent < limit) refusedWithRoom++;
        }
      }
      for (const t of admitted) {
        const inInterval = admitted.filter((u) => u >= t && u < t + 60_000).length;
        expect(inInterval).toBeLessThanOrEqual(limit);
      }
      expect(refusedWithRoom).toBe(0);
      expect(admitted.length).toBeGreaterThan(100);
    });

    test("Retry-After names a time at which the request is admitted", async ({ limiters }) => {
      const check = limiters[kind];
      const limits = { perMinute: 2, perDay: big };
      await check("k3", limits, T0);
      await check("k3", limits, T0 + 30_000);
      const refused = await check("k3", limits, T0 + 40_000);
      expect(refused.allowed).toBe(false);
      // The first request sits in the bucket that began 250 ms before T0; it leaves 61 buckets later.
      expect(refused.retryAfterMs).toBe(61_000 - 250 - 40_000);
      expect((await check("k3", limits, T0 + 40_000 + refused.retryAfterMs - 1)).allowed).toBe(false);
      expect((await check("k3", limits, T0 + 40_000 + refused.retryAfterMs)).allowed).toBe(true);
    });

    test("the daily limit holds over a day and frees up after it", async ({ limiters }) => {
      const check = limiters[kind];
      const limits = { perMinute: big, perDay: 5 };
      for (let h = 0; h < 5; h++) expect((await check("k4", limits, T0 + h * 3_600_000)).allowed).toBe(true);
      const refused = await check("k4", limits, T0 + 23 * 3_600_000);
      expect(refused.allowed).toBe(false);
      expect(refused.day).toMatchObject({ limit: 5, used: 5 });
      expect((await check("k4", limits, T0 + 24 * 3_600_000 + 15 * 60_000)).allowed).toBe(true);
    });

    test("keys are limited independently and report their usage and reset", async ({ limiters }) => {
      const check = limiters[kind];
      const limits = { perMinute: 5, perDay: 100 };
      await check("a", limits, T0);
      const b = await check("b", limits, T0 + 500);
      expect(b.minute).toEqual({ limit: 5, used: 1, resetMs: 61_000 - 750 });
      expect(b.day.used).toBe(1);
      expect(b.source).toBe(kind);
    });

    test("a refusal by one window still reports the other window's current usage", async ({ limiters }) => {
      const check = limiters[kind];
      const limits = { perMinute: 1, perDay: 100 };
      await check("w1", limits, T0);
      // The moment T0's day bucket leaves the window.
      const dayBucketGone = (Math.floor(T0 / 900_000) + 97) * 900_000;
      expect((await check("w1", limits, dayBucketGone - 1_000)).day.used).toBe(2);
      const refused = await check("w1", limits, dayBucketGone + 1_000);
      expect(refused).toMatchObject({ allowed: false, minute: { used: 1 }, day: { used: 1 } });
    });

    test("a request of cost n counts n in both windows; a refused one counts nothing", async ({
      limiters,
    }) => {
      const check = limiters[kind];
      const limits = { perMinute: 10, perDay: 100 };
      const results = [];
      for (let i = 0; i < 5; i++) results.push(await check("c1", limits, T0 + i * 100, { cost: 3 }));
      expect(results.map((r) => r.allowed)).toEqual([true, true, true, false, false]);
      expect(results.map((r) => r.minute.used)).toEqual([3, 6, 9, 9, 9]);
      expect(results.map((r) => r.day.used)).toEqual([3, 6, 9, 9, 9]);
      // The refusals left room for exactly one more unit.
      expect(await check("c1", limits, T0 + 600)).toMatchObject({ allowed: true, minute: { used: 10 } });
      expect((await check("c1", limits, T0 + 700)).allowed).toBe(false);

      // A cost above the limit never fits, and still counts nothing.
      const tooBig = await check("c2", { perMinute: 2, perDay: 100 }, T0, { cost: 3 });
      expect(tooBig).toMatchObject({ allowed: false, minute: { used: 0 }, day: { used: 0 } });
      expect(tooBig.retryAfterMs).toBeGreaterThan(0);
    });

    test("Retry-After for a costly request waits until enough units have left", async ({ limiters }) => {
      const check = limiters[kind];
      const limits = { perMinute: 5, perDay: big };
      await check("c3", limits, T0, { cost: 2 });
      await check("c3", limits, T0 + 10_000, { cost: 2 });
      const refused = await check("c3", limits, T0 + 20_000, { cost: 3 });
      expect(refused.allowed).toBe(false);
      // 4 used + 3 wanted - 5 allowed = 2 units must leave: the first request's bucket frees them.
      expect(refused.retryAfterMs).toBe(61_000 - 250 - 20_000);
      const at = T0 + 20_000 + refused.retryAfterMs;
      expect((await check("c3", limits, at - 1, { cost: 3 })).allowed).toBe(false);
      expect(await check("c3", limits, at, { cost: 3 })).toMatchObject({
        allowed: true,
        minute: { used: 5 },
      });
    });

    test("consume: false decides as a counted request would, and counts nothing", async ({ limiters }) => {
      const check = limiters[kind];
      const limits = { perMinute: 3, perDay: 50 };
      const read = (nowMs: number, cost?: number) => check("r1", limits, nowMs, { cost, consume: false });

      // Nothing counted yet: a read admits and reports no usage.
      expect(await read(T0)).toMatchObject({ allowed: true, minute: { used: 0 }, day: { used: 0 } });
      await check("r1", limits, T0);
      await check("r1", limits, T0 + 1_000);
      const fits = await read(T0 + 2_000);
      const tooMuch = await read(T0 + 2_000, 2);
      expect(fits).toMatchObject({ allowed: true, minute: { used: 2 }, day: { used: 2 }, retryAfterMs: 0 });
      expect(tooMuch).toMatchObject({ allowed: false, minute: { used: 2 }, day: { used: 2 } });
      for (let i = 0; i < 5; i++) await read(T0 + 2_000, 1);

      // The counted requests that follow get exactly the answers the reads announced.
      const costly = await check("r1", limits, T0 + 2_000, { cost: 2 });
      expect(costly).toEqual(tooMuch);
      const counted = await check("r1", limits, T0 + 2_000);
      expect(counted).toMatchObject({ allowed: fits.allowed, minute: { used: 3 }, day: { used: 3 } });
      const full = await read(T0 + 2_500);
      expect(full).toMatchObject({ allowed: false, minute: { used: 3 } });
      expect(await check("r1", limits, T0 + 2_500)).toEqual(full);
    });
  });
}

describe("the Redis and the local limiter", () => {
  let run = 0;
  const step = fc.record({
    cost: fc.integer({ min: 1, max: 5 }),
    consume: fc.boolean(),
    advanceMs: fc.integer({ min: 0, max: 90_000 }),
    perMinute: fc.integer({ min: 1, max: 20 }),
    perDay: fc.integer({ min: 1, max: 50 }),
  });

  test("give the same answer to every sequence of costs, reads and clock steps", async ({ limiters }) => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 86_400_000 }),
        fc.array(step, { minLength: 1, maxLength: 30 }),
        async (startOffsetMs, steps) => {
          // A fresh key per run: the limiters keep their state from one run to the next.
          const keyId = `p${run++}`;
          let now = T0 + startOffsetMs;
          for (const { cost, consume, advanceMs, perMinute, perDay } of steps) {
            now += advanceMs;
            const limits = { perMinute, perDay };
            const [redis, local] = await Promise.all([
              limiters.redis(keyId, limits, now, { cost, consume }),
              limiters.local(keyId, limits, now, { cost, consume }),
            ]);
            const view = (r: LimitResult) => ({
              allowed: r.allowed,
              minuteUsed: r.minute.used,
              dayUsed: r.day.used,
              retryAfterMs: r.retryAfterMs,
              minuteResetMs: r.minute.resetMs,
              dayResetMs: r.day.resetMs,
            });
            expect(view(local)).toEqual(view(redis));
          }
        },
      ),
      { numRuns: 50 },
    );
  });
});

describe("checks of one key made together", () => {
  /** A Redis limiter of its own, to count the script calls it writes. */
  const withOwn = withServices.extend<{ own: { limiter: RedisRateLimiter; calls: () => number } }>({
    own: async ({ services }, use) => {
      const limiter = await startRedisLimiter(services);
      await use({ limiter, calls: countScriptCalls(limiter) });
      limiter.stop();
    },
  });

  withOwn("share one script call, and each gets the answer it would have had alone", async ({ own }) => {
    const key = { id: "burst", userId: "u_burst" };
    const limits = { perMinute: 4, perDay: big };
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => own.limiter.check(key, limits, T0 + i)),
    );
    expect(own.calls()).toBe(1);
    expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, ...Array(6).fill(false)]);
    expect(results.map((r) => r.minute.used)).toEqual([1, 2, 3, 4, ...Array(6).fill(4)]);
    // Each check's times are its own: 61 s after the bucket began, from its own arrival.
    expect(results.map((r) => r.minute.resetMs)).toEqual(results.map((_, i) => 61_000 - 250 - i));
    expect(results.map((r) => r.retryAfterMs)).toEqual(
      results.map((r, i) => (r.allowed ? 0 : 61_000 - 250 - i)),
    );
    // A read, another cost or another bucket is a call of its own.
    await Promise.all([
      own.limiter.check(key, limits, T0 + 20),
      own.limiter.check(key, limits, T0 + 20, { consume: false }),
      own.limiter.check(key, limits, T0 + 20, { cost: 2 }),
      own.limiter.check(key, limits, T0 + 1_000),
    ]);
    expect(own.calls()).toBe(1 + 4);
  });

  let run = 0;
  const burst = fc.record({
    size: fc.integer({ min: 1, max: 8 }),
    cost: fc.integer({ min: 1, max: 4 }),
    advanceMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 90_000 })),
  });

  withOwn("are decided as the same checks one after another, windows and quota alike", async ({ own }) => {
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          perMinute: fc.integer({ min: 1, max: 20 }),
          perDay: fc.integer({ min: 1, max: 60 }),
          quota: fc.option(fc.record({ limit: fc.integer({ min: 1, max: 40 }), block: fc.boolean() })),
        }),
        fc.array(burst, { minLength: 1, maxLength: 20 }),
        async (terms, bursts) => {
          const key = { id: `b${run++}`, userId: `u_b${run}` };
          const local = new LocalRateLimiter(async () => 0);
          const limits = { perMinute: terms.perMinute, perDay: terms.perDay };
          const quota = terms.quota && {
            ...terms.quota,
            periodStart: T0 - 86_400_000,
            periodEnd: T0 + 40 * 86_400_000,
          };
          let now = T0;
          for (const { size, cost, advanceMs } of bursts) {
            now += advanceMs;
            const times = Array.from({ length: size }, (_, i) => now + i);
            const options = quota ? { cost, quota } : { cost };
            const together = await Promise.all(times.map((t) => own.limiter.check(key, limits, t, options)));
            const alone = [];
            for (const t of times) alone.push(await local.check(key, limits, t, options));
            const view = (r: LimitResult) => [
              r.allowed,
              r.minute.used,
              r.minute.resetMs,
              r.day.used,
              r.day.resetMs,
              r.retryAfterMs,
              r.quota && { ...r.quota },
            ];
            expect(together.map(view)).toEqual(alone.map(view));
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});

/** A plain client on the shared Redis, to read what the script left there. */
const withRedis = test.extend<{ redis: Redis }>({
  redis: async ({ services }, use) => {
    const redis = new Redis(services.redisUrl);
    await use(redis);
    redis.disconnect();
  },
});

describe("the Redis limiter's keys", () => {
  const minuteKey = (prefix: string, id: string) => `${prefix}rl:{u_${id}}:${id}:m`;
  const dayKey = (prefix: string, id: string) => `${prefix}rl:{u_${id}}:${id}:d`;

  withRedis(
    "expire a full window after their newest bucket; a refusal writes nothing",
    async ({ services, limiters, redis }) => {
      const limits = { perMinute: 1, perDay: big };
      expect((await limiters.redis("t1", limits, T0)).allowed).toBe(true);
      const m = minuteKey(services.redisPrefix, "t1");
      const d = dayKey(services.redisPrefix, "t1");
      expect(await redis.pttl(m)).toBeGreaterThan(60_000);
      expect(await redis.pttl(m)).toBeLessThanOrEqual(61_000);
      expect(await redis.pttl(d)).toBeGreaterThan(97 * 900_000 - 5_000);
      const before = [await redis.hgetall(m), await redis.hgetall(d)];
      expect((await limiters.redis("t1", limits, T0 + 10_000)).allowed).toBe(false);
      expect([await redis.hgetall(m), await redis.hgetall(d)]).toEqual(before);

      // A key that is refused from its first request leaves nothing behind.
      expect((await limiters.redis("t2", { perMinute: 0, perDay: big }, T0)).allowed).toBe(false);
      expect(
        await redis.exists(minuteKey(services.redisPrefix, "t2"), dayKey(services.redisPrefix, "t2")),
      ).toBe(0);
    },
  );

  withRedis(
    "a call that finds the quota counter missing writes nothing, so the call after the rebuild sees the windows as they were",
    async ({ limiters }) => {
      const limits = { perMinute: 1, perDay: 1 };
      const month = (m: number) => ({
        limit: 10,
        periodStart: Date.UTC(2026, m, 1),
        periodEnd: Date.UTC(2026, m + 1, 1),
        block: false,
      });
      const counted = Date.UTC(2026, 0, 31, 11, 50);
      expect((await limiters.redis("q1", limits, counted, { quota: month(0) })).allowed).toBe(true);
      // A day and a bucket later, in February: that month's counter is missing (rebuilt first), and
      // January's count has just left the day window. It used to be dropped from the bucket but not
      // from the window's total, which then refused the key for a day.
      const later = await limiters.redis("q1", limits, counted + 86_400_000 + 900_000, { quota: month(1) });
      expect(later).toMatchObject({
        allowed: true,
        day: { used: 1 },
        minute: { used: 1 },
        quota: { used: 1 },
      });
    },
  );

  withRedis("a read creates nothing and changes no count", async ({ services, limiters, redis }) => {
    const limits = { perMinute: 5, perDay: big };
    const m = minuteKey(services.redisPrefix, "t4");
    const d = dayKey(services.redisPrefix, "t4");
    expect((await limiters.redis("t4", limits, T0, { consume: false })).allowed).toBe(true);
    expect(await redis.exists(m, d)).toBe(0);
    await limiters.redis("t4", limits, T0, { cost: 2 });
    const before = [await redis.hgetall(m), await redis.hgetall(d)];
    const ttl = await redis.pttl(m);
    for (const cost of [1, 3, 4]) await limiters.redis("t4", limits, T0 + 500, { cost, consume: false });
    expect([await redis.hgetall(m), await redis.hgetall(d)]).toEqual(before);
    // Not extended either: only a count written sets the expiry.
    expect(await redis.pttl(m)).toBeLessThanOrEqual(ttl);
  });

  withRedis(
    "hold only the buckets inside the window, and go once no count is left",
    async ({ services, limiters, redis }) => {
      const limits = { perMinute: 100, perDay: big };
      for (let s = 0; s < 5; s++) await limiters.redis("t3", limits, T0 + s * 20_000);
      const m = minuteKey(services.redisPrefix, "t3");
      // Buckets at 0, 20, 40, 60 and 80 s: at 80 s the window is the buckets from 20 s on.
      expect(await redis.hgetall(m)).toMatchObject({ t: "4" });
      expect(await redis.hlen(m)).toBe(4 + 2);
      const refused = await limiters.redis("t3", { perMinute: 0, perDay: big }, T0 + 200_000);
      expect(refused).toMatchObject({ allowed: false, minute: { used: 0 } });
      expect(await redis.exists(m)).toBe(0);
      expect(await redis.hget(dayKey(services.redisPrefix, "t3"), "t")).toBe("5");
    },
  );
});
