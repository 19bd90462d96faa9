import type { MeterClient, MeterEvent, SendOutcome } from "../src/stripe/meter-client.js";
import { describe, expect, type RunningSidecar, startSidecar, test } from "./fixtures.js";

/** A stand-in for the SDK client that answers from a script and records concurrency per customer. */
function scriptedClient(answer: (event: MeterEvent, call: number) => SendOutcome) {
  const calls: MeterEvent[] = [];
  const inFlight = new Map<string, number>();
  let maxInFlightPerCustomer = 0;
  const client: MeterClient = {
    batchSize: 1,
    async send([event]) {
      if (!event) throw new Error("empty call");
      const n = (inFlight.get(event.customerId) ?? 0) + 1;
      inFlight.set(event.customerId, n);
      maxInFlightPerCustomer = Math.max(maxInFlightPerCustomer, n);
      await new Promise((r) => setTimeout(r, 5));
      inFlight.set(event.customerId, n - 1);
      calls.push(event);
      return answer(event, calls.length);
    },
  };
  return { client, calls, maxInFlight: () => maxInFlightPerCustomer };
}

const tenMinutesAgo = () => new Date(Math.floor(Date.now() / 60_000) * 60_000 - 10 * 60_000);

async function addUsage(
  sidecar: RunningSidecar,
  customer: string,
  minute: Date,
  billable: number,
  key = `key_${customer}`,
) {
  await sidecar.query(
    `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests, billable_units)
     values ($1, $2, 'u', $3, $4, $4, $4)
     on conflict (key_id, minute) do update set
       billable_requests = usage_minutes.billable_requests + excluded.billable_requests,
       billable_units = usage_minutes.billable_units + excluded.billable_units`,
    [key, minute, customer, billable],
  );
}

const outbox = (sidecar: RunningSidecar) =>
  sidecar.query(
    "select identifier, stripe_customer_id as customer, value::int, status, attempts, last_error from stripe_outbox order by id",
  );

describe("the Stripe outbox", () => {
  test("one event per customer and window, once; late usage goes out as the difference", async ({
    services,
  }) => {
    const script = scriptedClient(() => ({ kind: "delivered", duplicate: false }));
    const sidecar = await startSidecar(services, {}, script.client);
    try {
      const minute = tenMinutesAgo();
      await addUsage(sidecar, "cus_A", minute, 7);
      await addUsage(sidecar, "cus_A", minute, 3, "key_2");
      await addUsage(sidecar, "cus_B", minute, 5);
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(script.calls.map((c) => [c.customerId, c.value, c.timestamp.getTime()])).toEqual([
        ["cus_A", "10", minute.getTime()],
        ["cus_B", "5", minute.getTime()],
      ]);

      await addUsage(sidecar, "cus_A", minute, 4); // arrived after the window was sent
      await sidecar.sendToStripe();
      const rows = await outbox(sidecar);
      expect(rows.map((r) => [r.customer, r.value, r.status])).toEqual([
        ["cus_A", 10, "sent"],
        ["cus_B", 5, "sent"],
        ["cus_A", 4, "sent"],
      ]);
      expect(rows[0].identifier).toMatch(/^[0-9a-f]{8}:cus_A:\d+:0$/);
      expect(rows[2].identifier).toBe(rows[0].identifier.replace(/:0$/, ":1"));
      for (const r of rows) expect(r.identifier.length).toBeLessThanOrEqual(100);
    } finally {
      await sidecar.close();
    }
  });

  test("an event is sent in the pass that enqueues it, every time", async ({ services }) => {
    const script = scriptedClient(() => ({ kind: "delivered", duplicate: false }));
    const sidecar = await startSidecar(services, {}, script.client);
    try {
      // Enqueued and read back within a millisecond or so: a due time taken from this process's
      // clock, in whole milliseconds, was at times still before the row's, and the event waited a pass.
      const minute = tenMinutesAgo();
      for (let n = 1; n <= 100; n++) {
        await addUsage(sidecar, "cus_A", minute, 1);
        await sidecar.sendToStripe();
        expect(script.calls).toHaveLength(n);
      }
    } finally {
      await sidecar.close();
    }
  });

  test("usage enqueued while a pass is sending is sent by a pass asked for then", async ({ services }) => {
    const sent: string[] = [];
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let sending = () => {};
    const firstSend = new Promise<void>((resolve) => {
      sending = resolve;
    });
    const client: MeterClient = {
      batchSize: 1,
      async send([event]) {
        if (!event) throw new Error("empty call");
        sending();
        await held;
        sent.push(event.customerId);
        return { kind: "delivered", duplicate: false };
      },
    };
    const sidecar = await startSidecar(services, {}, client);
    try {
      const minute = tenMinutesAgo();
      await addUsage(sidecar, "cus_A", minute, 1);
      const first = sidecar.sendToStripe();
      await firstSend; // that pass has read what is due and is waiting on Stripe
      await addUsage(sidecar, "cus_B", minute, 1);
      const second = sidecar.sendToStripe();
      release();
      await Promise.all([first, second]);
      expect(sent).toEqual(["cus_A", "cus_B"]);
    } finally {
      await sidecar.close();
    }
  });

  test("windows still open or settling are not sent", async ({ services }) => {
    const script = scriptedClient(() => ({ kind: "delivered", duplicate: false }));
    const sidecar = await startSidecar(services, {}, script.client);
    try {
      await addUsage(sidecar, "cus_A", new Date(Math.floor(Date.now() / 60_000) * 60_000), 3);
      await sidecar.sendToStripe();
      expect(script.calls).toEqual([]);
    } finally {
      await sidecar.close();
    }
  });

  test("429 backs off that customer only; duplicates count as delivered; refusals are dead letters", async ({
    services,
  }) => {
    const script = scriptedClient((event) => {
      if (event.customerId === "cus_Limited") return { kind: "rate_limited", reason: "rate_limit_error 429" };
      if (event.customerId === "cus_Dup") return { kind: "delivered", duplicate: true };
      if (event.customerId === "cus_Bad")
        return { kind: "refused", reason: "invalid_request_error 400: No such customer" };
      return { kind: "delivered", duplicate: false };
    });
    const sidecar = await startSidecar(services, {}, script.client);
    try {
      const minute = tenMinutesAgo();
      for (const customer of ["cus_Limited", "cus_Dup", "cus_Bad", "cus_Ok"])
        await addUsage(sidecar, customer, minute, 2);
      await addUsage(sidecar, "cus_Limited", new Date(minute.getTime() + 60_000), 2);
      await sidecar.sendToStripe();
      const rows = await outbox(sidecar);
      const byCustomer = (c: string) => rows.filter((r) => r.customer === c);
      expect(byCustomer("cus_Limited").map((r) => [r.status, r.attempts])).toEqual([
        ["pending", 1],
        ["pending", 0], // waits behind the first: one call at a time per customer
      ]);
      expect(byCustomer("cus_Dup")[0]).toMatchObject({
        status: "sent",
        last_error: "Stripe already had this identifier",
      });
      expect(byCustomer("cus_Bad")[0]).toMatchObject({
        status: "dead",
        last_error: expect.stringContaining("No such customer"),
      });
      expect(byCustomer("cus_Ok")[0]).toMatchObject({ status: "sent" });

      await sidecar.sendToStripe(); // the backed-off event is not due yet
      expect(script.calls.filter((c) => c.customerId === "cus_Limited")).toHaveLength(1);
      const [next] = await sidecar.query(
        "select extract(epoch from next_attempt_at - now()) as wait from stripe_outbox where stripe_customer_id = 'cus_Limited' and attempts = 1",
      );
      expect(Number(next.wait)).toBeGreaterThan(0.3);
    } finally {
      await sidecar.close();
    }
  });

  test("a backlog larger than one page is worked through in one pass", async ({ services }) => {
    const script = scriptedClient(() => ({ kind: "delivered", duplicate: false }));
    const sidecar = await startSidecar(services, { STRIPE_CONCURRENCY: "16" }, script.client);
    try {
      // 1,200 customers with one closed window each: more than the 500 events read at a time.
      await sidecar.query(
        `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests, billable_units)
         select 'key_' || n, $1, 'u', 'cus_' || n, 1, 1, 1 from generate_series(1, 1200) as n`,
        [tenMinutesAgo()],
      );
      await sidecar.sendToStripe();
      expect(script.calls).toHaveLength(1_200);
      expect(new Set(script.calls.map((c) => c.customerId)).size).toBe(1_200);
      const [{ pending }] = await sidecar.query(
        "select count(*)::int as pending from stripe_outbox where status <> 'sent'",
      );
      expect(pending).toBe(0);
    } finally {
      await sidecar.close();
    }
  });

  test("never more than one call in flight per customer", async ({ services }) => {
    const script = scriptedClient(() => ({ kind: "delivered", duplicate: false }));
    const sidecar = await startSidecar(services, { STRIPE_CONCURRENCY: "8" }, script.client);
    try {
      const minute = tenMinutesAgo().getTime();
      for (let w = 0; w < 5; w++) {
        for (const customer of ["cus_1", "cus_2", "cus_3"])
          await addUsage(sidecar, customer, new Date(minute - w * 60_000), 1);
      }
      await sidecar.sendToStripe();
      expect(script.calls).toHaveLength(15);
      expect(script.maxInFlight()).toBe(1);
    } finally {
      await sidecar.close();
    }
  });

  test("without STRIPE_API_KEY usage is recorded and nothing is sent; /ready says so", async ({
    sidecar,
  }) => {
    const ready = await (await fetch(`http://127.0.0.1:${sidecar.httpPort}/ready`)).json();
    expect(ready).toEqual({
      status: "ready",
      checks: {
        postgres: "ok",
        stripe: "idle (no STRIPE_API_KEY): usage is recorded, nothing is sent",
        stripe_webhooks: "off (no STRIPE_WEBHOOK_SECRET): POST /stripe/webhook answers 501",
      },
    });
    await addUsage(sidecar, "cus_A", tenMinutesAgo(), 3);
    await sidecar.sendToStripe();
    expect(await outbox(sidecar)).toEqual([]);
    expect(sidecar.logs.join("")).toContain("no STRIPE_API_KEY");
  });
});
