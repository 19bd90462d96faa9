import { createRedisClient } from "@gateway/common";
import {
  customerObject,
  invoiceFor,
  type SendOptions,
  sendStripeEvent,
  stripeEvent,
  subscriptionFor,
  type TestServices,
} from "@gateway/testing";
import Stripe from "stripe";
import { loadConfig } from "../src/config.js";
import {
  describe,
  expect,
  type RunningSidecar,
  sample,
  startSidecar,
  test as withServices,
} from "./fixtures.js";

const SECRET = "whsec_test_0123456789abcdefghijklmnopqrstuv";
const NOW_S = Math.floor(Date.now() / 1000);

interface Webhooks {
  sidecar: RunningSidecar;
  send(event: Stripe.Event, options?: SendOptions): ReturnType<typeof sendStripeEvent>;
  /** Messages published on api-key-service's invalidation channel so far. */
  published: string[];
  user(id: string): Promise<Record<string, any> | undefined>;
  audit(): Promise<Record<string, any>[]>;
  eventRows(): Promise<Record<string, any>[]>;
}

async function startWebhooks(services: TestServices, env: Record<string, string> = {}) {
  const sidecar = await startSidecar(services, {
    STRIPE_WEBHOOK_SECRET: SECRET,
    REDIS_URL: services.redisUrl,
    REDIS_KEY_PREFIX: services.redisPrefix,
    ...env,
  });
  const subscriber = createRedisClient({ url: services.redisUrl });
  const published: string[] = [];
  subscriber.on("message", (_channel: string, message: string) => published.push(message));
  await subscriber.subscribe(`${services.redisPrefix}key-changes`);
  const url = `http://127.0.0.1:${sidecar.httpPort}/stripe/webhook`;
  const webhooks: Webhooks = {
    sidecar,
    published,
    send: (event, options) => sendStripeEvent(url, event, SECRET, options),
    user: async (id) =>
      (
        await sidecar.query(
          "select stripe_customer_id, suspended_at, suspended_reason from users where user_id = $1",
          [id],
        )
      )[0],
    audit: () =>
      sidecar.query("select action, user_id, actor_id, actor, changes from audit_events order by id"),
    eventRows: () =>
      sidecar.query("select id, type, stripe_customer_id, outcome, users_changed from stripe_webhook_events"),
  };
  return {
    webhooks,
    close: async () => {
      await subscriber.quit();
      await sidecar.close();
    },
  };
}

const test = withServices.extend<{ webhooks: Webhooks }>({
  webhooks: async ({ services }, use) => {
    const started = await startWebhooks(services);
    try {
      await use(started.webhooks);
    } finally {
      await started.close();
    }
  },
});

async function addUsers(sidecar: RunningSidecar, users: [string, string | null][]) {
  for (const [id, customer] of users) {
    await sidecar.query("insert into users (user_id, stripe_customer_id) values ($1, $2)", [id, customer]);
  }
}

const paymentFailed = (customer: string, created = NOW_S, id?: string) =>
  stripeEvent({
    type: "invoice.payment_failed",
    object: invoiceFor(customer),
    created,
    ...(id ? { id } : {}),
  });
const paid = (customer: string, created = NOW_S) =>
  stripeEvent({ type: "invoice.paid", object: invoiceFor(customer), created });

describe("POST /stripe/webhook", () => {
  test("invoice.payment_failed suspends every user of the customer, audited, and announced per user", async ({
    webhooks,
  }) => {
    const { sidecar, send } = webhooks;
    await addUsers(sidecar, [
      ["acme", "cus_Acme"],
      ["acme-eu", "cus_Acme"],
      ["bob", "cus_Bob"],
    ]);
    const event = paymentFailed("cus_Acme");
    const answer = await send(event);
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: "applied" } });

    for (const id of ["acme", "acme-eu"]) {
      expect(await webhooks.user(id)).toMatchObject({
        stripe_customer_id: "cus_Acme",
        suspended_at: expect.any(Date),
        suspended_reason: "invoice.payment_failed",
      });
    }
    expect(await webhooks.user("bob")).toMatchObject({ suspended_at: null, suspended_reason: null });
    expect(await webhooks.audit()).toEqual(
      ["acme", "acme-eu"].map((user_id) => ({
        action: "user.suspended",
        user_id,
        actor_id: "stripe_webhook",
        actor: { type: "stripe_webhook", event_id: event.id },
        changes: {
          suspended_at: { from: null, to: expect.any(String) },
          suspended_reason: { from: null, to: "invoice.payment_failed" },
          stripe_event_type: "invoice.payment_failed",
        },
      })),
    );
    await expect.poll(() => [...webhooks.published].sort()).toEqual(["user:acme", "user:acme-eu"]);
    expect(await webhooks.eventRows()).toEqual([
      {
        id: event.id,
        type: "invoice.payment_failed",
        stripe_customer_id: "cus_Acme",
        outcome: "applied",
        users_changed: 2,
      },
    ]);
    const metrics = await sidecar.metricsText();
    expect(
      sample(metrics, 'stripe_webhook_events_total{type="invoice.payment_failed",outcome="applied"}'),
    ).toBe(1);
  });

  test("invoice.paid lifts the suspension; customer.subscription.deleted suspends again", async ({
    webhooks,
  }) => {
    const { sidecar, send } = webhooks;
    await addUsers(sidecar, [["acme", "cus_Acme"]]);
    await send(paymentFailed("cus_Acme", NOW_S - 20));
    expect((await send(paid("cus_Acme", NOW_S - 10))).body.outcome).toBe("applied");
    expect(await webhooks.user("acme")).toMatchObject({ suspended_at: null, suspended_reason: null });
    const unsuspended = (await webhooks.audit()).at(-1);
    expect(unsuspended).toMatchObject({
      action: "user.unsuspended",
      changes: { suspended_reason: { from: "invoice.payment_failed", to: null } },
    });

    await send(stripeEvent({ type: "customer.subscription.deleted", object: subscriptionFor("cus_Acme") }));
    expect(await webhooks.user("acme")).toMatchObject({
      suspended_at: expect.any(Date),
      suspended_reason: "customer.subscription.deleted",
    });
    await expect.poll(() => webhooks.published).toEqual(["user:acme", "user:acme", "user:acme"]);
  });

  test("a bad, missing or stale signature, a tampered or empty body: 400, and nothing changes", async ({
    webhooks,
  }) => {
    const { sidecar, send } = webhooks;
    await addUsers(sidecar, [["acme", "cus_Acme"]]);
    const event = paymentFailed("cus_Acme");
    const payload = JSON.stringify(event, null, 2);
    const stale = Stripe.webhooks.generateTestHeaderString({
      payload,
      secret: SECRET,
      timestamp: Math.floor(Date.now() / 1000) - 600,
    });
    const otherSecret = Stripe.webhooks.generateTestHeaderString({ payload, secret: "whsec_someone_else" });
    const attempts: SendOptions[] = [
      { signature: null },
      { signature: "t=1,v1=deadbeef" },
      { signature: otherSecret },
      { signature: stale },
      { body: payload.replace("cus_Acme", "cus_Evil") },
      { body: "" },
    ];
    for (const options of attempts) {
      const answer = await send(event, options);
      expect(answer.status, JSON.stringify(options)).toBe(400);
      expect(answer.body).toEqual({ error: expect.any(String) });
    }
    expect(await webhooks.user("acme")).toMatchObject({ suspended_at: null });
    expect(await webhooks.eventRows()).toEqual([]);
    expect(await webhooks.audit()).toEqual([]);
    expect(webhooks.published).toEqual([]);
    const metrics = await sidecar.metricsText();
    expect(sample(metrics, 'stripe_webhook_events_total{type="unverified",outcome="rejected"}')).toBe(6);
    // The log says why, never the secret or the signature.
    const refusals = sidecar.logs.filter((l) => l.includes("stripe webhook refused"));
    expect(refusals).toHaveLength(6);
    expect(refusals.join("")).not.toContain(SECRET);
    expect(refusals.join("")).not.toContain("deadbeef");
  });

  test("a redelivered event changes nothing twice, even when the copies arrive together", async ({
    webhooks,
  }) => {
    const { sidecar, send } = webhooks;
    await addUsers(sidecar, [["acme", "cus_Acme"]]);
    const event = paymentFailed("cus_Acme");
    const answers = await Promise.all(Array.from({ length: 5 }, () => send(event)));
    expect(answers.map((a) => a.body.outcome).sort()).toEqual([
      "applied",
      "duplicate",
      "duplicate",
      "duplicate",
      "duplicate",
    ]);
    const before = await webhooks.user("acme");
    expect((await send(event)).body.outcome).toBe("duplicate");
    expect(await webhooks.user("acme")).toEqual(before);
    expect(await webhooks.audit()).toHaveLength(1);
    expect(await webhooks.eventRows()).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 100));
    expect(webhooks.published).toEqual(["user:acme"]);
  });

  test("an older event delivered late is recorded but does not undo a newer one", async ({ webhooks }) => {
    const { sidecar, send } = webhooks;
    await addUsers(sidecar, [["acme", "cus_Acme"]]);
    // The customer paid after the failure, but Stripe delivered the receipt first.
    const failure = paymentFailed("cus_Acme", NOW_S - 60);
    const receipt = paid("cus_Acme", NOW_S - 30);
    expect((await send(receipt)).body.outcome).toBe("applied");
    expect((await send(failure)).body.outcome).toBe("stale");
    expect(await webhooks.user("acme")).toMatchObject({ suspended_at: null, suspended_reason: null });
    expect(await webhooks.audit()).toEqual([]);
    const rows = await webhooks.eventRows();
    expect(rows.find((r) => r.id === failure.id)).toMatchObject({ outcome: "stale", users_changed: 0 });
    const [mark] = await sidecar.query("select last_event_id from stripe_customer_billing");
    expect(mark.last_event_id).toBe(receipt.id);

    // Ordering is per customer: another customer's older event still applies.
    await addUsers(sidecar, [["bob", "cus_Bob"]]);
    expect((await send(paymentFailed("cus_Bob", NOW_S - 3_600))).body.outcome).toBe("applied");
    expect(await webhooks.user("bob")).toMatchObject({ suspended_reason: "invoice.payment_failed" });
  });

  test("an event type without an action is answered 200, ignored and counted, and not stored", async ({
    webhooks,
  }) => {
    const { sidecar, send } = webhooks;
    await addUsers(sidecar, [["acme", "cus_Acme"]]);
    const answer = await send(stripeEvent({ type: "invoice.created", object: invoiceFor("cus_Acme") }));
    expect(answer).toEqual({ status: 200, body: { received: true, outcome: "ignored" } });
    // An event the policy knows but that names no customer is recorded as ignored.
    const orphan = stripeEvent({ type: "invoice.payment_failed", object: { id: "in_1", object: "invoice" } });
    expect((await send(orphan)).body.outcome).toBe("ignored");
    expect(await webhooks.eventRows()).toEqual([
      expect.objectContaining({ id: orphan.id, outcome: "ignored" }),
    ]);
    expect(await webhooks.user("acme")).toMatchObject({ suspended_at: null });
    const metrics = await sidecar.metricsText();
    expect(sample(metrics, 'stripe_webhook_events_total{type="other",outcome="ignored"}')).toBe(1);
  });

  test("customer.deleted clears the customer from its users and suspends them", async ({ webhooks }) => {
    const { sidecar, send } = webhooks;
    await addUsers(sidecar, [["acme", "cus_Acme"]]);
    const event = stripeEvent({
      type: "customer.deleted",
      object: customerObject("cus_Acme"),
      created: NOW_S,
    });
    expect((await send(event)).body.outcome).toBe("applied");
    expect(await webhooks.user("acme")).toMatchObject({
      stripe_customer_id: null,
      suspended_at: expect.any(Date),
      suspended_reason: "customer.deleted",
    });
    expect((await webhooks.audit()).map((a) => [a.action, a.changes])).toEqual([
      [
        "user.billing_updated",
        { stripe_customer_id: { from: "cus_Acme", to: null }, stripe_event_type: "customer.deleted" },
      ],
      [
        "user.suspended",
        expect.objectContaining({ suspended_reason: { from: null, to: "customer.deleted" } }),
      ],
    ]);
    // The customer is gone from the user: a later invoice for it lifts nothing.
    expect((await send(paid("cus_Acme", NOW_S + 5))).body).toMatchObject({ outcome: "applied" });
    expect(await webhooks.user("acme")).toMatchObject({ suspended_reason: "customer.deleted" });
  });
});

describe("configuration", () => {
  withServices("STRIPE_WEBHOOK_POLICY turns a default off and maps another event", async ({ services }) => {
    const { webhooks, close } = await startWebhooks(services, {
      STRIPE_WEBHOOK_POLICY: "invoice.payment_failed=ignore, customer.subscription.paused=suspend",
    });
    try {
      await addUsers(webhooks.sidecar, [["acme", "cus_Acme"]]);
      expect((await webhooks.send(paymentFailed("cus_Acme"))).body.outcome).toBe("ignored");
      expect(await webhooks.user("acme")).toMatchObject({ suspended_at: null });
      const paused = stripeEvent({
        type: "customer.subscription.paused",
        object: subscriptionFor("cus_Acme"),
      });
      expect((await webhooks.send(paused)).body.outcome).toBe("applied");
      expect(await webhooks.user("acme")).toMatchObject({ suspended_reason: "customer.subscription.paused" });
    } finally {
      await close();
    }
  });

  withServices(
    "without STRIPE_WEBHOOK_SECRET the route answers 501 and the log says why",
    async ({ services }) => {
      const sidecar = await startSidecar(services);
      try {
        await sidecar.query("insert into users (user_id, stripe_customer_id) values ('acme', 'cus_Acme')");
        const url = `http://127.0.0.1:${sidecar.httpPort}/stripe/webhook`;
        const answer = await sendStripeEvent(url, paymentFailed("cus_Acme"), SECRET);
        expect(answer.status).toBe(501);
        expect(sidecar.logs.join("")).toContain("no STRIPE_WEBHOOK_SECRET");
        const ready: any = await (await fetch(`http://127.0.0.1:${sidecar.httpPort}/ready`)).json();
        expect(ready.checks.stripe_webhooks).toMatch(/^off/);
        const [user] = await sidecar.query("select suspended_at from users");
        expect(user.suspended_at).toBeNull();
      } finally {
        await sidecar.close();
      }
    },
  );

  withServices("refuses a secret without REDIS_URL, and a policy it cannot read, naming the variable", () => {
    const base = { DATABASE_URL: "postgres://gateway@postgres:5432/gateway" };
    expect(() => loadConfig({ ...base, STRIPE_WEBHOOK_SECRET: SECRET })).toThrow(
      /REDIS_URL: is required with/,
    );
    expect(() => loadConfig({ ...base, STRIPE_WEBHOOK_SECRET: "sk_test_wrong" })).toThrow(
      /STRIPE_WEBHOOK_SECRET: must be a Stripe webhook signing secret/,
    );
    for (const policy of [
      "invoice.paid=refund",
      "paid=suspend",
      "invoice.paid",
      "invoice.paid=suspend,invoice.paid=unsuspend",
    ])
      expect(() => loadConfig({ ...base, STRIPE_WEBHOOK_POLICY: policy }), policy).toThrow(
        /STRIPE_WEBHOOK_POLICY/,
      );
    const config = loadConfig(base);
    expect(Object.fromEntries(config.STRIPE_WEBHOOK_POLICY)).toEqual({
      "invoice.payment_failed": "suspend",
      "invoice.paid": "unsuspend",
      "customer.subscription.deleted": "suspend",
      "customer.deleted": "clear_customer",
    });
  });
});
