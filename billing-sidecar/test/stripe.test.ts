import { createHash } from "node:crypto";
import { createDb } from "@gateway/db";
import { type StripeEmulator, startStripeEmulator } from "@gateway/testing";
import Stripe from "stripe";
import { createStripe } from "../src/stripe/meter-client.js";
import { reconcile } from "../src/stripe/reconcile.js";
import { describe, expect, type RunningSidecar, startSidecar, test } from "./fixtures.js";

const EVENT = "api_requests";
const minuteAgo = (n: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - n * 60_000);

/** Usage of one unit a request, as before routes had costs: meter event values are billable units. */
async function addUsage(sidecar: RunningSidecar, customer: string, minute: Date, billable: number) {
  await sidecar.query(
    `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests, billable_units)
     values ($1, $2, 'u', $3, $4, $4, $4)`,
    [`key_${customer}_${minute.getTime()}`, minute, customer, billable],
  );
}

function stripeEnv(emulator: StripeEmulator, extra: Record<string, string> = {}) {
  return {
    STRIPE_API_KEY: emulator.apiKey,
    STRIPE_API_BASE: emulator.url,
    STRIPE_METER_EVENT_NAME: EVENT,
    ...extra,
  };
}

/** Runs outbox passes until nothing is pending (back-off included), bounded in time. */
async function drain(sidecar: RunningSidecar, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    await sidecar.sendToStripe();
    const [row] = await sidecar.query(
      "select count(*)::int as n from stripe_outbox where status = 'pending'",
    );
    if (row.n === 0) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error("the outbox did not drain");
}

describe("the sidecar against the Stripe emulator, through the official SDK", () => {
  test("each customer's usage arrives once, at the right value, through 429s, 500s and slow answers", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const sidecar = await startSidecar(services, stripeEnv(emulator, { STRIPE_TIMEOUT: "400ms" }));
    try {
      for (const [customer, n] of [
        ["cus_A", 7],
        ["cus_B", 11],
        ["cus_C", 5],
        ["cus_D", 2],
      ] as const) {
        await addUsage(sidecar, customer, minuteAgo(5), n);
        await addUsage(sidecar, customer, minuteAgo(4), n * 10);
      }
      emulator.faults.rateLimit({ times: 2 });
      emulator.faults.serverError({ times: 2 });
      emulator.faults.slow({ delayMs: 1_000, times: 1 });
      await drain(sidecar);
      await emulator.settled();

      expect(
        emulator
          .totals()
          .map((t) => [t.customer, t.value])
          .sort(),
      ).toEqual(
        [
          ["cus_A", 77],
          ["cus_B", 121],
          ["cus_C", 55],
          ["cus_D", 22],
        ].sort(),
      );
      const identifiers = emulator.events().map((e) => e.identifier);
      expect(new Set(identifiers).size).toBe(identifiers.length);
      expect(identifiers).toHaveLength(8);
      const rows = await sidecar.query("select status from stripe_outbox");
      expect(rows.every((r) => r.status === "sent")).toBe(true);
      const metrics = await sidecar.metricsText();
      expect(metrics).toMatch(/stripe_meter_events_total\{result="rate_limited"\} [1-9]/);
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });

  test("an event Stripe already has (a crash after sending) is answered as a duplicate and counted as delivered", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const sidecar = await startSidecar(services, stripeEnv(emulator));
    try {
      const window = minuteAgo(3);
      await addUsage(sidecar, "cus_A", window, 9);
      // What the sidecar would have sent before crashing: the same deterministic identifier.
      const tag = createHash("sha256").update(EVENT).digest("hex").slice(0, 8);
      const stripe = new Stripe(emulator.apiKey, { ...emulator.sdkConfig });
      await stripe.billing.meterEvents.create({
        event_name: EVENT,
        payload: { stripe_customer_id: "cus_A", value: "9" },
        identifier: `${tag}:cus_A:${window.getTime() / 1000}:0`,
        timestamp: window.getTime() / 1000,
      });
      await drain(sidecar);
      expect(emulator.total(EVENT, "cus_A")).toBe(9);
      expect(emulator.events()).toHaveLength(1);
      const [row] = await sidecar.query("select status, last_error from stripe_outbox");
      expect(row).toEqual({ status: "sent", last_error: "Stripe already had this identifier" });
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });

  test("what Stripe refuses is dead-lettered with its reason, and the rest still goes out", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }], customers: ["cus_Known"] });
    const sidecar = await startSidecar(services, stripeEnv(emulator));
    try {
      await addUsage(sidecar, "cus_Known", minuteAgo(3), 4);
      await addUsage(sidecar, "cus_Gone", minuteAgo(3), 6);
      await drain(sidecar);
      const rows = await sidecar.query(
        "select stripe_customer_id as c, status, last_error from stripe_outbox order by c",
      );
      expect(rows[0]).toMatchObject({
        c: "cus_Gone",
        status: "dead",
        last_error: expect.stringContaining("cus_Gone"),
      });
      expect(rows[1]).toMatchObject({ c: "cus_Known", status: "sent" });
      expect(emulator.total(EVENT, "cus_Known")).toBe(4);
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });
});

describe("pnpm billing:reconcile", () => {
  test("finds no difference after delivery, and names the customer-hour Stripe disagrees on", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const sidecar = await startSidecar(services, stripeEnv(emulator));
    const db = createDb({ url: services.databaseUrl, max: 1 });
    try {
      await addUsage(sidecar, "cus_A", minuteAgo(3), 4);
      await addUsage(sidecar, "cus_B", minuteAgo(3), 6);
      await drain(sidecar);
      const hour = Math.floor(minuteAgo(3).getTime() / 3_600_000) * 3_600_000;
      const from = new Date(hour);
      const to = new Date(hour + 3_600_000);
      const stripe = createStripe(emulator.apiKey, emulator.url);
      const clean = await reconcile(db, stripe, EVENT, from, to);
      expect(clean.mismatches).toBe(0);
      expect(clean.rows.map((r) => [r.customer, r.sent, r.stripe])).toEqual([
        ["cus_A", 4, 4],
        ["cus_B", 6, 6],
      ]);

      // Someone else reports usage for cus_B into the same meter and hour.
      await stripe.billing.meterEvents.create({
        event_name: EVENT,
        payload: { stripe_customer_id: "cus_B", value: "2" },
        timestamp: Math.floor(minuteAgo(3).getTime() / 1000),
      });
      const dirty = await reconcile(db, stripe, EVENT, from, to);
      expect(dirty.mismatches).toBe(1);
      expect(dirty.rows.find((r) => r.customer === "cus_B")).toMatchObject({
        sent: 6,
        stripe: 8,
        difference: 2,
      });
    } finally {
      await db.destroy();
      await sidecar.close();
      await emulator.close();
    }
  });
});

describe("STRIPE_MODE=stream (Stripe's v2 meter event stream)", () => {
  test("sends in batches of at most 100 under a session token, renewing it when Stripe says it expired", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const sidecar = await startSidecar(services, stripeEnv(emulator, { STRIPE_MODE: "stream" }));
    try {
      for (let c = 0; c < 150; c++) await addUsage(sidecar, `cus_${c}`, minuteAgo(3), c + 1);
      await sidecar.sendToStripe();
      const calls = emulator.requests({ path: "/v2/billing/meter_event_stream" });
      expect(calls.map((c) => c.status)).toEqual([200, 200]);
      expect(emulator.events()).toHaveLength(150);
      expect(emulator.total(EVENT, "cus_149")).toBe(150);

      emulator.expireSessions();
      await addUsage(sidecar, "cus_late", minuteAgo(3), 5);
      await sidecar.sendToStripe();
      expect(emulator.total(EVENT, "cus_late")).toBe(5);
      expect(emulator.requests({ path: "/v2/billing/meter_event_session" })).toHaveLength(2);
      const [left] = await sidecar.query(
        "select count(*)::int as n from stripe_outbox where status <> 'sent'",
      );
      expect(left.n).toBe(0);
    } finally {
      await sidecar.close();
      await emulator.close();
    }
  });
});
