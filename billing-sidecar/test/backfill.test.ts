import { createHash } from "node:crypto";
import { type StripeEmulator, startStripeEmulator, type TestServices } from "@gateway/testing";
import type { MeterClient } from "../src/stripe/meter-client.js";
import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, type RunningSidecar, sample, startSidecar, test } from "./fixtures.js";

const EVENT = "api_requests";
const METER_TAG = createHash("sha256").update(EVENT).digest("hex").slice(0, 8);
const DAY = 86_400_000;
// One base minute for the whole file: a test that straddles a minute boundary must still name the
// same windows when it inserts and when it asserts.
const BASE_MINUTE = Math.floor(Date.now() / 60_000) * 60_000;
const minuteAgo = (n: number) => new Date(BASE_MINUTE - n * 60_000);

const stripeEnv = (emulator: StripeEmulator) => ({
  STRIPE_API_KEY: emulator.apiKey,
  STRIPE_API_BASE: emulator.url,
  STRIPE_METER_EVENT_NAME: EVENT,
});

/** A user without a Stripe customer and one key of theirs (optionally with a customer of its own). */
async function trialKey(
  sidecar: RunningSidecar,
  user: string,
  key: string,
  keyCustomer: string | null = null,
) {
  await sidecar.query("insert into users (user_id) values ($1) on conflict do nothing", [user]);
  await sidecar.query(
    `insert into api_keys (id, user_id, name, key_hash, key_start, stripe_customer_id)
     values ($1, $2, $1, md5($1), 'gw_abcdef', $3)`,
    [key, user, keyCustomer],
  );
}

/** Usage the access log recorded with no customer in Check's metadata: units differ from requests. */
async function customerless(sidecar: RunningSidecar, key: string, user: string, minute: Date, units: number) {
  await sidecar.query(
    `insert into usage_minutes (key_id, minute, user_id, requests, billable_requests, billable_units)
     values ($1, $2, $3, 2, 2, $4)`,
    [key, minute, user, units],
  );
}

const setCustomer = (sidecar: RunningSidecar, user: string, customer: string) =>
  sidecar.query("update users set stripe_customer_id = $2 where user_id = $1", [user, customer]);

const sent = (emulator: StripeEmulator) =>
  emulator
    .events()
    .map((e) => [e.customer, Number(e.value), e.timestamp * 1000])
    .sort((a, b) => Number(a[2]) - Number(b[2]));

function withEmulator(services: TestServices) {
  return startStripeEmulator({ meters: [{ eventName: EVENT }] }).then(async (emulator) => ({
    emulator,
    sidecar: await startSidecar(services, stripeEnv(emulator)),
  }));
}

describe("usage recorded without a Stripe customer", () => {
  test("is counted unbilled, then billed once its user has a customer: its own events, once across passes and a restart", async ({
    services,
  }) => {
    let { emulator, sidecar } = await withEmulator(services);
    try {
      await trialKey(sidecar, "trial", "key_t");
      await customerless(sidecar, "key_t", "trial", minuteAgo(5), 30);
      await customerless(sidecar, "key_t", "trial", minuteAgo(4), 12);
      await sidecar.sendToStripe();
      expect(emulator.events()).toEqual([]);
      let metrics = await sidecar.metricsText();
      expect(sample(metrics, "billing_unbilled_units")).toBe(42);
      expect(sample(metrics, "billing_unbilled_users")).toBe(1);

      await setCustomer(sidecar, "trial", "cus_Trial");
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(sent(emulator)).toEqual([
        ["cus_Trial", 30, minuteAgo(5).getTime()],
        ["cus_Trial", 12, minuteAgo(4).getTime()],
      ]);
      expect(emulator.events().map((e) => e.identifier)).toEqual(
        [minuteAgo(5), minuteAgo(4)].map((m) => `bf:${METER_TAG}:cus_Trial:${m.getTime() / 1000}:0`),
      );
      metrics = await sidecar.metricsText();
      expect(sample(metrics, "billing_unbilled_units")).toBe(0);
      expect(sample(metrics, "billing_unbilled_users")).toBe(0);

      // A new sidecar finds the rows settled: nothing is enqueued or sent again.
      await sidecar.close();
      sidecar = await startSidecar(services, stripeEnv(emulator));
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(emulator.events()).toHaveLength(2);
      expect(
        await sidecar.query("select kind, status, value::int from stripe_outbox order by window_start"),
      ).toEqual([
        { kind: "backfill", status: "sent", value: 30 },
        { kind: "backfill", status: "sent", value: 12 },
      ]);
      expect(
        await sidecar.query(
          `select billable_units::int, backfilled_units::int, unbillable_units::int, backfill_customer_id
             from usage_minutes order by minute`,
        ),
      ).toEqual([
        { billable_units: 30, backfilled_units: 30, unbillable_units: 0, backfill_customer_id: "cus_Trial" },
        { billable_units: 12, backfilled_units: 12, unbillable_units: 0, backfill_customer_id: "cus_Trial" },
      ]);
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });

  test("a restart between enqueueing and sending still sends each backfilled window once", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    // Stripe unreachable for the first sidecar: the backfill is enqueued (and the rows settled), not sent.
    const unreachable: MeterClient = {
      batchSize: 1,
      send: async () => ({ kind: "retry", reason: "offline" }),
    };
    let sidecar = await startSidecar(services, { STRIPE_METER_EVENT_NAME: EVENT }, unreachable);
    try {
      await trialKey(sidecar, "trial", "key_t");
      await customerless(sidecar, "key_t", "trial", minuteAgo(6), 9);
      await setCustomer(sidecar, "trial", "cus_Trial");
      await sidecar.sendToStripe();
      expect(await sidecar.query("select status, value::int from stripe_outbox")).toEqual([
        { status: "pending", value: 9 },
      ]);
      await sidecar.close();

      sidecar = await startSidecar(services, stripeEnv(emulator));
      await sidecar.query("update stripe_outbox set next_attempt_at = now()"); // past the back-off
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(sent(emulator)).toEqual([["cus_Trial", 9, minuteAgo(6).getTime()]]);
      expect(await sidecar.query("select status from stripe_outbox")).toEqual([{ status: "sent" }]);
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });

  test("late usage: without a customer it goes out as a further backfill, with one as the per-window difference", async ({
    services,
  }) => {
    const { emulator, sidecar } = await withEmulator(services);
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      await trialKey(sidecar, "trial", "key_t");
      const minute = minuteAgo(5);
      await customerless(sidecar, "key_t", "trial", minute, 10);
      await setCustomer(sidecar, "trial", "cus_Trial");
      await sidecar.sendToStripe();
      expect(sent(emulator)).toEqual([["cus_Trial", 10, minute.getTime()]]);

      // More entries for that minute, still without a customer (a Check answered before it was set).
      const entry = (customer?: string) =>
        httpEntry({
          keyId: "key_t",
          userId: "trial",
          code: 200,
          units: "4",
          startSeconds: minute.getTime() / 1000 + 5,
          ...(customer ? { customer } : {}),
        });
      stream.send([entry(), entry()]);
      const units = async () =>
        (await sidecar.query("select billable_units::int as n from usage_minutes"))[0].n;
      await expect.poll(units).toBe(18);
      await sidecar.sendToStripe();
      expect(sent(emulator)).toEqual([
        ["cus_Trial", 10, minute.getTime()],
        ["cus_Trial", 8, minute.getTime()],
      ]);
      expect(emulator.events()[1]?.identifier).toBe(`bf:${METER_TAG}:cus_Trial:${minute.getTime() / 1000}:1`);

      // Then with the customer (Check now carries it): the row is billed per window, less what the
      // backfills already sent.
      stream.send([entry("cus_Trial")]);
      await expect.poll(units).toBe(22);
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(emulator.total(EVENT, "cus_Trial")).toBe(22);
      expect(
        (await sidecar.query("select kind, value::int from stripe_outbox order by id")).map((r) => [
          r.kind,
          r.value,
        ]),
      ).toEqual([
        ["backfill", 10],
        ["backfill", 8],
        ["usage", 4],
      ]);
    } finally {
      stream.cancel();
      stream.close();
      await sidecar.close();
      await emulator.close();
    }
  });

  test("a key's own customer is enough; usage past Stripe's 35 days is never sent, marked unbillable when the customer comes", async ({
    services,
  }) => {
    const { emulator, sidecar } = await withEmulator(services);
    try {
      await trialKey(sidecar, "trial", "key_own", "cus_Own");
      await customerless(sidecar, "key_own", "trial", minuteAgo(7), 6);
      // Recorded with no customer at all: within Stripe's window but too close to its edge to send,
      // and past it.
      await trialKey(sidecar, "late", "key_late");
      const edge = new Date(Date.now() - 35 * DAY + 20 * 60_000);
      const past = new Date(Date.now() - 40 * DAY);
      await customerless(sidecar, "key_late", "late", minuteAgo(7), 2);
      await customerless(
        sidecar,
        "key_late",
        "late",
        new Date(Math.floor(edge.getTime() / 60_000) * 60_000),
        3,
      );
      await customerless(
        sidecar,
        "key_late",
        "late",
        new Date(Math.floor(past.getTime() / 60_000) * 60_000),
        5,
      );
      expect(sample(await sidecar.metricsText(), "billing_unbilled_units")).toBe(6 + 2 + 3);

      await setCustomer(sidecar, "late", "cus_Late");
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(
        sent(emulator)
          .map(([customer, value]) => `${customer} ${value}`)
          .sort(),
      ).toEqual(["cus_Late 2", "cus_Own 6"]);
      expect(emulator.errorReports()).toEqual([]);
      expect(
        await sidecar.query(
          `select backfilled_units::int as backfilled, unbillable_units::int as unbillable, backfilled_at is not null as settled
             from usage_minutes where key_id = 'key_late' order by minute`,
        ),
      ).toEqual([
        // Past 35 days: not looked at again; the usage API reports it unbillable.
        { backfilled: 0, unbillable: 0, settled: false },
        { backfilled: 0, unbillable: 3, settled: true },
        { backfilled: 2, unbillable: 0, settled: true },
      ]);
      expect(sidecar.logs.join("")).toContain("too old for Stripe");
      expect(sample(await sidecar.metricsText(), "billing_unbilled_units")).toBe(0);
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });

  test("an identifier already taken fails the backfill whole: nothing settled, retried on the next pass", async ({
    services,
  }) => {
    const { emulator, sidecar } = await withEmulator(services);
    try {
      await trialKey(sidecar, "trial", "key_t");
      const minute = minuteAgo(5);
      await customerless(sidecar, "key_t", "trial", minute, 7);
      await customerless(sidecar, "key_t", "trial", minuteAgo(4), 1);
      await setCustomer(sidecar, "trial", "cus_Trial");
      // What the backfill will name minute 5's event, taken by something else.
      await sidecar.query(
        `insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, status)
         values ($1, 'cus_Other', 'other_meter', $2, 1, 'sent')`,
        [`bf:${METER_TAG}:cus_Trial:${minute.getTime() / 1000}:0`, minute],
      );
      await sidecar.sendToStripe();
      expect(emulator.events()).toEqual([]);
      expect(
        (await sidecar.query("select backfilled_at from usage_minutes")).every(
          (r) => r.backfilled_at === null,
        ),
      ).toBe(true);
      expect(sidecar.logs.join("")).toContain("stripe backfill failed");

      await sidecar.query("delete from stripe_outbox where stripe_customer_id = 'cus_Other'");
      await sidecar.sendToStripe();
      expect(sent(emulator).map(([, value]) => value)).toEqual([7, 1]);
      expect(emulator.events()[0]?.identifier).toBe(`bf:${METER_TAG}:cus_Trial:${minute.getTime() / 1000}:0`);
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });
});
