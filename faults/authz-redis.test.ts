import { startRedisServer, type TestServices } from "@gateway/testing";
import { describe, expect, startApi, test } from "../api-key-service/test/fixtures.js";
import {
  type CheckLoad,
  type CheckSample,
  counter,
  deadlineReport,
  figure,
  firstSuccess,
  sleepUntil,
  stalledFor,
  startCheckLoad,
  summarize,
  Teardown,
  timedCheck,
  watchUnhandledRejections,
  withinDeadline,
} from "./check-load.js";

/**
 * Long enough for the clients' reconnect back-off to reach its 1 s cap (100, 200, 400, 800 ms, then
 * every second), so what is measured is a real outage's steady state; the restart then lands about
 * 0.1 s after a reconnect attempt, close to the worst case.
 */
const OUTAGE_MS = 3_600;
const RECOVERY_BUDGET_MS = 2_000;
/** Production's budget per rate-limit call (the fixture relaxes it to 1 s for loaded machines). */
const REDIS_TIMEOUT_MS = 50;
/**
 * The command timeout is a timer, and timers run before the loop reads replies: a stall this long
 * (the timeout less the watch's granularity) can time out a call Redis had answered in time.
 */
const TIMEOUT_STALL_MS = REDIS_TIMEOUT_MS - 10;
const FALLBACKS = 'authz_dependency_errors_total{dependency="redis",operation="rate_limit"}';
/** A key no test traffic can exhaust, in either window. */
const UNLIMITED = { rate_limit_per_minute: 1_000_000, rate_limit_per_day: 100_000_000 };

/** Envoy's deadline for every check from `steadyFrom` on (a cold service's first checks are slow). */
function expectInTime(name: string, load: CheckLoad, steadyFrom: number, downFrom: number) {
  const steady = load.samples.filter((s) => s.startedAt >= steadyFrom);
  const report = deadlineReport(steady, load.stalls, downFrom, "Redis stopped");
  figure(`${name}-max-check`, Math.max(...steady.map((s) => s.ms)));
  figure(`${name}-max-event-loop-stall`, load.stalls.maxMs);
  figure(`${name}-late-while-starved`, report.starved, `of ${steady.length} checks`);
  expect(report.late, withinDeadline(load)).toEqual([]);
  expect(report.starved, "checks late while the OS ran others: too busy a machine to judge").toBeLessThan(
    steady.length * 0.02,
  );
}

/** Refusals while Redis was up are allowed only where a stall could have timed a call out. */
function expectAllowedWhileUp(name: string, load: CheckLoad, samples: CheckSample[]) {
  const refused = samples.filter((s) => s.outcome !== "allowed");
  const stalled = stalledFor(refused, load.stalls, TIMEOUT_STALL_MS);
  figure(`${name}-refused-after-stall-while-up`, stalled.length, `of ${samples.length} checks`);
  expect(
    summarize(refused.filter((s) => !stalled.includes(s))),
    "refused while Redis was up, with no stall to time a call out",
  ).toEqual({});
  expect(summarize(stalled), "timed out by a stall: refused as unavailable").toEqual(
    stalled.length ? { unavailable: stalled.length } : {},
  );
}

/** A private Redis and a service using it with the production timeout; both stopped by `teardown`. */
async function startWithPrivateRedis(services: TestServices, mode: "open" | "closed", teardown: Teardown) {
  const redis = await startRedisServer();
  teardown.add(() => redis.stop());
  const api = await startApi(services, {
    REDIS_URL: redis.url,
    REDIS_TIMEOUT: `${REDIS_TIMEOUT_MS}ms`,
    RATE_LIMIT_FAILURE_MODE: mode,
  });
  teardown.add(() => api.stop());
  return { redis, api };
}

describe("api-key-service under Check load while its Redis stops and comes back", () => {
  test("open: the local limiter answers while Redis is down; Redis limits again within 2 s of its return", async ({
    services,
  }) => {
    const unhandled = watchUnhandledRejections();
    const teardown = new Teardown();
    teardown.add(() => unhandled.dispose());
    try {
      const { redis, api } = await startWithPrivateRedis(services, "open", teardown);
      const busy = await api.createKey(UNLIMITED);
      // Tells the limiters apart: the local one uses up the probe's 2 while Redis is away, and Redis
      // comes back empty (no persistence), so an allowed probe after that was decided by Redis.
      const probe = await api.createKey({ rate_limit_per_minute: 2 });
      const load = startCheckLoad(api, [busy.key]);
      teardown.add(() => load.stop());
      await load.more(100);
      const steadyFrom = performance.now();
      const fallbacksWarm = await counter(api, FALLBACKS);
      await load.more(200);
      const fallbacksUp = (await counter(api, FALLBACKS)) - fallbacksWarm;
      const upTo = performance.now();

      await redis.stop();
      const fallbacksAtStop = await counter(api, FALLBACKS);
      const downFrom = performance.now();
      const probes = [];
      for (let i = 0; i < 3; i++) probes.push((await timedCheck(api, probe.key)).outcome);
      await sleepUntil(downFrom + OUTAGE_MS);
      const downTo = performance.now();
      const fallbacksDown = (await counter(api, FALLBACKS)) - fallbacksAtStop;

      await redis.start();
      const back = performance.now();
      const recoveredAt = await firstSuccess(async () => {
        const s = await timedCheck(api, probe.key);
        return { ok: s.outcome === "allowed", at: s.endedAt };
      });
      const recoveryMs = recoveredAt === null ? Number.POSITIVE_INFINITY : recoveredAt - back;
      figure("redis-recovery-open", recoveryMs);

      const afterFrom = performance.now();
      const fallbacksRecovered = await counter(api, FALLBACKS);
      await load.more(300);
      const fallbacksAfter = (await counter(api, FALLBACKS)) - fallbacksRecovered;
      const afterTo = performance.now();
      await load.stop();

      const during = load.within(downFrom, downTo);
      const after = load.within(afterFrom, afterTo);
      console.info(`open: ${during.length} checks while Redis was down, ${after.length} after it returned`);
      expectInTime("redis-open", load, steadyFrom, downFrom);
      expect(summarize(load.samples), "every check of the busy key allowed").toEqual({
        allowed: load.samples.length,
      });
      // While Redis is up the local limiter is not used, but where a stall timed a call out: each
      // fallback counted between two reads of the metric belongs to a check in flight meanwhile.
      const stalledUp = stalledFor(load.overlapping(steadyFrom, upTo), load.stalls, TIMEOUT_STALL_MS);
      const stalledAfter = stalledFor(load.overlapping(afterFrom, afterTo), load.stalls, TIMEOUT_STALL_MS);
      figure("redis-open-fallbacks-while-up", fallbacksUp + fallbacksAfter, "checks");
      expect(fallbacksUp, "fell back while Redis was up").toBeLessThanOrEqual(stalledUp.length);
      expect(probes, "the local limiter limits while Redis is down").toEqual([
        "allowed",
        "allowed",
        "rate_limited",
      ]);
      expect(during.length).toBeGreaterThan(100);
      // Each check sent while Redis was down was decided by the local limiter (the probes count too).
      expect(fallbacksDown).toBeGreaterThanOrEqual(during.length);
      expect(recoveryMs, "Redis deciding again after its return").toBeLessThan(RECOVERY_BUDGET_MS);
      expect(after.length).toBeGreaterThanOrEqual(250);
      expect(fallbacksAfter, "fell back after Redis returned").toBeLessThanOrEqual(stalledAfter.length);
      expect(unhandled.errors).toEqual([]);
    } finally {
      await teardown.run();
    }
  });

  test("closed: 503 with Retry-After while Redis is down; checks pass again within 2 s of its return", async ({
    services,
  }) => {
    const unhandled = watchUnhandledRejections();
    const teardown = new Teardown();
    teardown.add(() => unhandled.dispose());
    try {
      const { redis, api } = await startWithPrivateRedis(services, "closed", teardown);
      const busy = await api.createKey(UNLIMITED);
      const load = startCheckLoad(api, [busy.key]);
      teardown.add(() => load.stop());
      await load.more(100);
      const steadyFrom = performance.now();
      await load.more(200);
      const up = load.within(steadyFrom, performance.now());

      await redis.stop();
      const downFrom = performance.now();
      await sleepUntil(downFrom + OUTAGE_MS);
      const downTo = performance.now();

      await redis.start();
      const back = performance.now();
      const recoveredAt = await firstSuccess(async () => {
        const s = await timedCheck(api, busy.key);
        return { ok: s.outcome === "allowed", at: s.endedAt };
      });
      const recoveryMs = recoveredAt === null ? Number.POSITIVE_INFINITY : recoveredAt - back;
      figure("redis-recovery-closed", recoveryMs);
      await load.more(300);
      await load.stop();

      const during = load.within(downFrom, downTo);
      const after = load.samples.filter((s) => recoveredAt !== null && s.startedAt >= recoveredAt);
      console.info(`closed: ${during.length} checks while Redis was down, ${after.length} after it returned`);
      expectInTime("redis-closed", load, steadyFrom, downFrom);
      expectAllowedWhileUp("redis-closed", load, [...up, ...after]);
      expect(during.length).toBeGreaterThan(100);
      expect(summarize(during), "while Redis is down").toEqual({ unavailable: during.length });
      for (const s of during) {
        expect(s.httpStatus).toBe("ServiceUnavailable");
        expect(s.retryAfter).toBe("1");
      }
      expect(recoveryMs, "checks passing again after Redis returned").toBeLessThan(RECOVERY_BUDGET_MS);
      expect(after.length).toBeGreaterThanOrEqual(250);
      expect(unhandled.errors).toEqual([]);
    } finally {
      await teardown.run();
    }
  });
});
