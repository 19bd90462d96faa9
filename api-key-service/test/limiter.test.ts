import { test as withServices } from "@gateway/testing";
import { describe, expect } from "vitest";
import { LocalRateLimiter } from "../src/authz/local-limiter.js";
import { RedisRateLimiter } from "../src/authz/redis-limiter.js";
import type { LimitResult, Limits } from "../src/authz/sliding-window.js";

type Check = (keyId: string, limits: Limits, nowMs: number) => Promise<LimitResult>;

/** Each case runs against the Redis script and against the local fallback: they must agree. */
const test = withServices.extend<{ limiters: Record<"redis" | "local", Check> }>({
  limiters: async ({ services }, use) => {
    const remote = new RedisRateLimiter({
      url: services.redisUrl,
      keyPrefix: services.redisPrefix,
      timeoutMs: 1_000,
      onError: () => {},
    });
    await remote.start(5_000);
    const local = new LocalRateLimiter();
    await use({
      redis: (k, l, n) => remote.check(k, l, n),
      local: async (k, l, n) => local.check(k, l, n),
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
  });
}
