import Stripe from "stripe";
import { describe, expect, test } from "vitest";
import { clock, DAY_S, emulator, nowS, rejection, stripe, usage } from "./meter-event-fixture.js";

// Meter event creates and meter look-ups through the official SDK.

describe("creating meter events", () => {
  test("an accepted event is echoed in Stripe's shape and counted for its customer", async () => {
    const event = await stripe.billing.meterEvents.create(
      usage("25", { identifier: "evt-1", timestamp: nowS() - 60 }),
    );

    expect(event).toMatchObject({
      object: "billing.meter_event",
      event_name: "api_requests",
      identifier: "evt-1",
      livemode: false,
      payload: { stripe_customer_id: "cus_1", value: "25" },
      timestamp: nowS() - 60,
      created: nowS(),
    });
    expect(event.lastResponse.requestId).toMatch(/^req_/);
    expect(event.lastResponse.idempotencyKey).toMatch(/^stripe-node-retry-/);
    expect(emulator.total("api_requests", "cus_1")).toBe(25);
  });

  test("without identifier or timestamp, Stripe fills in a unique identifier and now", async () => {
    const first = await stripe.billing.meterEvents.create(usage("1"));
    const second = await stripe.billing.meterEvents.create(usage("2"));

    expect(first.identifier).not.toBe(second.identifier);
    expect(first.timestamp).toBe(nowS());
    expect(emulator.total("api_requests", "cus_1")).toBe(3);
  });

  test("a meter's own payload keys carry the customer and value", async () => {
    await stripe.billing.meterEvents.create({
      event_name: "tokens",
      payload: { account: "cus_9", tokens: "7" },
    });

    expect(emulator.total("tokens", "cus_9")).toBe(7);
  });

  test("negative whole numbers are accepted as corrections", async () => {
    await stripe.billing.meterEvents.create(usage("10"));
    await stripe.billing.meterEvents.create(usage("-4"));

    expect(emulator.total("api_requests", "cus_1")).toBe(6);
  });
});

describe("duplicate identifiers", () => {
  test("a second event with an identifier gets Stripe's 400 without code, and is not counted", async () => {
    await stripe.billing.meterEvents.create(usage("5", { identifier: "dup-1" }));
    const error = await rejection(usage("5", { identifier: "dup-1" }));

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error.statusCode).toBe(400);
    expect(error.rawType).toBe("invalid_request_error");
    expect(error.message).toBe("An event already exists with identifier dup-1.");
    expect(error.code).toBeUndefined();
    expect(error.headers?.["stripe-should-retry"]).toBe("false");
    expect(emulator.total("api_requests", "cus_1")).toBe(5);
  });

  test("an identifier can be used again once its 24 hours are over", async () => {
    await stripe.billing.meterEvents.create(usage("5", { identifier: "daily" }));
    clock.advance(DAY_S * 1000);

    await stripe.billing.meterEvents.create(usage("5", { identifier: "daily" }));
    expect(emulator.total("api_requests", "cus_1")).toBe(10);
  });
});

describe("finding meters", () => {
  test("the sidecar can find the active meter for an event name, and retrieve it by id", async () => {
    const active = await stripe.billing.meters.list({ status: "active" }).autoPagingToArray({ limit: 100 });
    const meter = active.find((m) => m.event_name === "api_requests");

    expect(active.map((m) => m.event_name).sort()).toEqual(["api_requests", "tokens"]);
    expect(meter).toMatchObject({
      id: "mtr_test_requests",
      object: "billing.meter",
      default_aggregation: { formula: "sum" },
      customer_mapping: { event_payload_key: "stripe_customer_id", type: "by_id" },
      value_settings: { event_payload_key: "value" },
      status: "active",
    });
    await expect(stripe.billing.meters.retrieve("mtr_test_requests")).resolves.toMatchObject({
      event_name: "api_requests",
    });
  });

  test("an unknown meter id is a 404", async () => {
    const error = await stripe.billing.meters.retrieve("mtr_nope").catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 404, code: "resource_missing" });
  });
});
