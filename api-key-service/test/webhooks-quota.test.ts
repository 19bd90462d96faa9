import { createLogger } from "@gateway/common";
import { createDb, type Database } from "@gateway/db";
import type { Kysely } from "kysely";
import type { QuotaCrossing } from "../src/authz/quota-alerts.js";
import { QuotaAlertQueue } from "../src/webhooks/quota-alert-queue.js";
import { describe, expect, test } from "./db-fixture.js";

const logger = createLogger({ service: "test", level: "silent" });

const crossing = (overrides: Partial<QuotaCrossing> = {}): QuotaCrossing => ({
  userId: "alice",
  planId: "pro",
  periodStart: new Date("2026-12-01T00:00:00Z"),
  periodEnd: new Date("2027-01-01T00:00:00Z"),
  threshold: 0.8,
  monthlyQuota: 1000,
  used: 801,
  ...overrides,
});

async function subscribe(db: Kysely<Database>, id: string, events: string[], userId: string | null = null) {
  await db
    .insertInto("webhooks")
    .values({
      id,
      url: "https://93.184.215.14/hook",
      events: events as any,
      secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      user_id: userId,
      created_by: JSON.stringify({ type: "admin_token" }),
    })
    .execute();
}

async function counts(db: Kysely<Database>) {
  const row = await db
    .selectNoFrom((eb) => [
      eb.selectFrom("quota_alerts").select(eb.fn.countAll<string>().as("n")).as("alerts"),
      eb.selectFrom("webhook_events").select(eb.fn.countAll<string>().as("n")).as("events"),
      eb.selectFrom("webhook_deliveries").select(eb.fn.countAll<string>().as("n")).as("deliveries"),
    ])
    .executeTakeFirstOrThrow();
  return { alerts: Number(row.alerts), events: Number(row.events), deliveries: Number(row.deliveries) };
}

/** A queue with its own pool, as each service instance has. */
function queueOn(databaseUrl: string) {
  const db = createDb({ url: databaseUrl, max: 2 });
  const queue = new QuotaAlertQueue({ db, logger, flushIntervalMs: 60_000 });
  return { queue, close: () => db.destroy() };
}

describe("QuotaAlertQueue", () => {
  test("the same crossing reported 5 times concurrently by two instances: one event, one delivery", async ({
    db,
    services,
  }) => {
    await subscribe(db, "wh_quota000000000000000001", ["quota.threshold"]);
    const instances = [queueOn(services.databaseUrl), queueOn(services.databaseUrl)];
    try {
      for (let round = 0; round < 5; round++) {
        // Both told at once, then both write at once: the unique key decides between them.
        for (const { queue } of instances) for (let i = 0; i < 5; i++) queue.crossed(crossing());
        await Promise.all(instances.map(({ queue }) => queue.flush()));
      }
      expect(await counts(db)).toEqual({ alerts: 1, events: 1, deliveries: 1 });
      const [event] = await db.selectFrom("webhook_events").selectAll().execute();
      expect(event?.type).toBe("quota.threshold");
      expect(event?.payload).toEqual({
        type: "quota.threshold",
        timestamp: expect.any(String),
        data: {
          user_id: "alice",
          plan_id: "pro",
          threshold: 0.8,
          monthly_quota: 1000,
          used: 801,
          period_start: "2026-12-01T00:00:00.000Z",
          period_end: "2027-01-01T00:00:00.000Z",
        },
      });
    } finally {
      for (const { close } of instances) await close();
    }
  });

  test("five fresh instances writing the same crossing at the same moment still make one event", async ({
    db,
    services,
  }) => {
    await subscribe(db, "wh_quota000000000000000002", ["quota.threshold"]);
    const instances = Array.from({ length: 5 }, () => queueOn(services.databaseUrl));
    try {
      for (const { queue } of instances) queue.crossed(crossing());
      await Promise.all(instances.map(({ queue }) => queue.flush()));
      expect(await counts(db)).toEqual({ alerts: 1, events: 1, deliveries: 1 });
    } finally {
      for (const { close } of instances) await close();
    }
  });

  test("one event per user, billing period and threshold; fanned out to each subscribed webhook", async ({
    db,
  }) => {
    await subscribe(db, "wh_quota000000000000000003", ["quota.threshold", "key.created"]);
    await subscribe(db, "wh_quota000000000000000004", ["quota.threshold"], "alice");
    await subscribe(db, "wh_quota000000000000000005", ["key.created"]);
    const queue = new QuotaAlertQueue({ db, logger, flushIntervalMs: 60_000 });
    queue.crossed(crossing());
    queue.crossed(crossing({ threshold: 1, used: 1000 }));
    queue.crossed(crossing({ periodStart: new Date("2027-01-01T00:00:00Z") }));
    queue.crossed(crossing({ userId: "bob" }));
    await queue.flush();
    // alice's three go to the global webhook and to hers; bob's only to the global one.
    expect(await counts(db)).toEqual({ alerts: 4, events: 4, deliveries: 7 });
  });

  test("with no webhook subscribed, the crossing is kept but no event is stored, and it is not sent later", async ({
    db,
  }) => {
    const queue = new QuotaAlertQueue({ db, logger, flushIntervalMs: 60_000 });
    queue.crossed(crossing());
    await queue.flush();
    await subscribe(db, "wh_quota000000000000000006", ["quota.threshold"]);
    const again = new QuotaAlertQueue({ db, logger, flushIntervalMs: 60_000 });
    again.crossed(crossing());
    await again.flush();
    expect(await counts(db)).toEqual({ alerts: 1, events: 0, deliveries: 0 });
  });

  test("crossed() never throws or blocks; what Postgres would refuse is dropped; stop() writes the rest", async ({
    db,
  }) => {
    await subscribe(db, "wh_quota000000000000000007", ["quota.threshold"]);
    const queue = new QuotaAlertQueue({ db, logger, flushIntervalMs: 60_000 });
    queue.start();
    const started = performance.now();
    queue.crossed(crossing({ periodStart: new Date(Number.NaN) }));
    queue.crossed(crossing({ used: Number.NaN }));
    queue.crossed(crossing({ userId: "a\u0000b" }));
    for (let i = 0; i < 10_000; i++) queue.crossed(crossing({ userId: `user${i % 100}` }));
    expect(performance.now() - started).toBeLessThan(500);
    expect(await counts(db)).toEqual({ alerts: 0, events: 0, deliveries: 0 });
    await queue.stop();
    expect(await counts(db)).toEqual({ alerts: 100, events: 100, deliveries: 100 });
  });

  test("a failed write is kept and written by the next flush", async ({ db }) => {
    await subscribe(db, "wh_quota000000000000000008", ["quota.threshold"]);
    let down = true;
    const flaky = db.withPlugin({
      transformQuery: (args) => {
        if (down) throw new Error("postgres is away");
        return args.node;
      },
      transformResult: async (args) => args.result,
    });
    const queue = new QuotaAlertQueue({ db: flaky, logger, flushIntervalMs: 60_000 });
    queue.crossed(crossing());
    await queue.flush();
    expect(await counts(db)).toEqual({ alerts: 0, events: 0, deliveries: 0 });
    down = false;
    await queue.flush();
    expect(await counts(db)).toEqual({ alerts: 1, events: 1, deliveries: 1 });
  });
});
