import { randomBytes } from "node:crypto";
import { startPostgresServer } from "@gateway/testing";
import { inject } from "vitest";
import { KeyFormat } from "../api-key-service/src/keys/key-format.js";
import { describe, expect, startApi, test } from "../api-key-service/test/fixtures.js";
import {
  type CheckSample,
  deadlineReport,
  figure,
  firstSuccess,
  sleepUntil,
  startCheckLoad,
  summarize,
  Teardown,
  timedCheck,
  watchUnhandledRejections,
  withinDeadline,
} from "./check-load.js";

const OUTAGE_MS = 3_000;
const RECOVERY_BUDGET_MS = 2_000;
const UNLIMITED = { rate_limit_per_minute: 1_000_000, rate_limit_per_day: 100_000_000 };
/** Well-formed (prefix and checksum) keys that no database holds, so each one needs a lookup. */
const neverSeen = new KeyFormat("gw");

describe("api-key-service under Check load while its Postgres stops and comes back", () => {
  test("cached keys pass, unknown keys and REST get 503 with Retry-After; a new key works within 2 s of its return", async () => {
    const unhandled = watchUnhandledRejections();
    const teardown = new Teardown();
    teardown.add(() => unhandled.dispose());
    try {
      const postgres = await startPostgresServer();
      teardown.add(() => postgres.destroy());
      // The service migrates its private database on start; Redis is the shared one, under a prefix of its own.
      const services = {
        databaseUrl: postgres.url,
        redisUrl: inject("redisUrl"),
        redisPrefix: `faults:${randomBytes(6).toString("hex")}:`,
      };
      // Production's budgets (the fixture relaxes them for loaded machines).
      const api = await startApi(services, { KEY_LOOKUP_TIMEOUT: "100ms", REDIS_TIMEOUT: "50ms" });
      teardown.add(() => api.stop());
      const cached = [];
      for (let i = 0; i < 3; i++) cached.push((await api.createKey(UNLIMITED)).key as string);
      for (const key of cached) expect((await timedCheck(api, key)).outcome).toBe("allowed");
      const load = startCheckLoad(api, cached);
      teardown.add(() => load.stop());
      await load.more(100); // a cold service's first checks are slow: not part of the scenario
      const steadyFrom = performance.now();
      await load.more(200);

      await postgres.stop("immediate");
      const downFrom = performance.now();
      const unknown: CheckSample[] = [];
      const rest = [];
      while (performance.now() < downFrom + OUTAGE_MS - 500) {
        unknown.push(await timedCheck(api, neverSeen.generate()));
        rest.push(
          await api.request("POST", "/api/keys", { body: { user_id: "user_1", name: "in the outage" } }),
        );
        rest.push(await api.request("GET", "/api/keys/user_1"));
        await sleepUntil(performance.now() + 200);
      }
      await sleepUntil(downFrom + OUTAGE_MS);
      const downTo = performance.now();

      await postgres.start();
      const back = performance.now();
      let created: string | null = null;
      const restAt = await firstSuccess(async () => {
        const res = await api.request("POST", "/api/keys", { body: { user_id: "user_1", name: "after" } });
        if (res.status === 201) created = res.body.key;
        return { ok: res.status === 201, at: performance.now() };
      });
      const newKey = created as string | null;
      const recoveredAt =
        newKey === null
          ? null
          : await firstSuccess(async () => {
              const s = await timedCheck(api, newKey);
              return { ok: s.outcome === "allowed", at: s.endedAt };
            });
      const restMs = restAt === null ? Number.POSITIVE_INFINITY : restAt - back;
      const recoveryMs = recoveredAt === null ? Number.POSITIVE_INFINITY : recoveredAt - back;
      figure("postgres-recovery-rest-create", restMs);
      figure("postgres-recovery-new-key", recoveryMs);
      // Lookups resume: a never-seen key is unknown again, not unavailable (polled: a stall of the
      // loaded machine can time one lookup out).
      const unknownAgainAt = await firstSuccess(
        async () => {
          const s = await timedCheck(api, neverSeen.generate());
          return { ok: s.outcome === "unknown", at: s.endedAt };
        },
        { timeoutMs: RECOVERY_BUDGET_MS },
      );
      await load.more(200);
      await load.stop();

      const steady = load.samples.filter((s) => s.startedAt >= steadyFrom);
      const during = load.within(downFrom, downTo);
      console.info(
        `postgres: ${during.length} cached-key checks, ${unknown.length} unknown keys and ${rest.length} REST calls while it was down`,
      );
      const report = deadlineReport(steady, load.stalls, downFrom, "Postgres stopped");
      figure("postgres-max-check", Math.max(...steady.map((s) => s.ms)));
      figure("postgres-max-unknown-key-check", Math.max(...unknown.map((s) => s.ms)));
      figure("postgres-max-event-loop-stall", load.stalls.maxMs);
      figure("postgres-late-while-starved", report.starved, `of ${steady.length} checks`);

      expect(report.late, withinDeadline(load)).toEqual([]);
      expect(report.starved, "checks late while the OS ran others: too busy a machine to judge").toBeLessThan(
        steady.length * 0.02,
      );
      expect(summarize(load.samples), "every check of a cached key allowed").toEqual({
        allowed: load.samples.length,
      });
      expect(during.length).toBeGreaterThan(100);
      expect(unknown.length).toBeGreaterThanOrEqual(3);
      expect(deadlineReport(unknown, load.stalls, downFrom, "Postgres stopped").late, "unknown keys").toEqual(
        [],
      );
      for (const s of unknown) {
        expect(s.outcome).toBe("unavailable");
        expect(s.httpStatus).toBe("ServiceUnavailable");
        expect(s.retryAfter).toBe("1");
      }
      for (const res of rest) {
        expect(res.status, res.text).toBe(503);
        expect(res.headers.get("content-type")).toContain("application/problem+json");
        expect(res.body.code).toBe("UNAVAILABLE");
        expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      expect(restMs, "a key created over REST after Postgres returned").toBeLessThan(RECOVERY_BUDGET_MS);
      expect(recoveryMs, "that key passing a check").toBeLessThan(RECOVERY_BUDGET_MS);
      expect(unknownAgainAt, "a never-seen key answered unknown again").not.toBeNull();
      expect(unhandled.errors).toEqual([]);
    } finally {
      await teardown.run();
    }
  });
});
