import Stripe from "stripe";
import { describe, expect, test } from "vitest";
import { clock, DAY_S, emulator, nowS, rejection, stripe, usage } from "./meter-event-fixture.js";

// The synchronous rules Stripe applies to a v1 meter event create, through the official SDK.

describe("the timestamp window", () => {
  test("35 days back is the oldest accepted, with Stripe's message one second past it", async () => {
    await stripe.billing.meterEvents.create(usage("1", { timestamp: nowS() - 35 * DAY_S }));
    const error = await rejection(usage("1", { timestamp: nowS() - 35 * DAY_S - 1 }));

    expect(error.statusCode).toBe(400);
    expect(error.param).toBe("timestamp");
    expect(error.message).toBe(
      `The event timestamp cannot be more than 35 days in past. Expected a timestamp greater than or equal to ${nowS() - 35 * DAY_S}.`,
    );
  });

  test("the window moves with the emulator clock", async () => {
    const sent = nowS() - 30 * DAY_S;
    await stripe.billing.meterEvents.create(usage("1", { timestamp: sent }));
    clock.advance(6 * DAY_S * 1000);

    const error = await rejection(usage("1", { timestamp: sent }));
    expect(error.message).toMatch(/cannot be more than 35 days in past/);
  });

  test("up to 5 minutes ahead is clock drift; further is rejected", async () => {
    await stripe.billing.meterEvents.create(usage("1", { timestamp: nowS() + 300 }));
    const error = await rejection(usage("1", { timestamp: nowS() + 301 }));

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error.param).toBe("timestamp");
    expect(emulator.events()).toHaveLength(1);
  });
});

describe("meter and payload rules", () => {
  test.each([
    ["an unknown event name", "page_views"],
    ["an inactive meter", "retired"],
  ])("%s has no active meter", async (_case, eventName) => {
    const error = await rejection({
      event_name: eventName,
      payload: { stripe_customer_id: "cus_1", value: "1" },
    });

    expect(error.statusCode).toBe(400);
    expect(error.message).toBe(`No active meter found for event name "${eventName}"`);
  });

  test.each([
    ["the customer key", { value: "1" }, /Customer mapping key stripe_customer_id/],
    ["the value key", { stripe_customer_id: "cus_1" }, /value not found in payload/],
  ])("a payload without %s is rejected", async (_case, payload, message) => {
    const error = await rejection({ event_name: "api_requests", payload });

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error.message).toMatch(message);
    expect(emulator.events()).toHaveLength(0);
  });

  test("the default keys do not count for a meter with its own keys", async () => {
    const error = await rejection({
      event_name: "tokens",
      payload: { stripe_customer_id: "cus_1", value: "1" },
    });

    expect(error.message).toBe("Customer mapping key account not found in payload.");
  });

  test.each(["1.5", "abc", "1e3", " 2"])("value %j is not a whole number", async (value) => {
    const error = await rejection(usage(value));

    expect(error.statusCode).toBe(400);
    expect(error.param).toBe("payload[value]");
  });

  test("15 digits are accepted, 16 significant digits are not", async () => {
    await stripe.billing.meterEvents.create(usage("999999999999999"));
    const error = await rejection(usage("1234567890123456"));

    expect(error.message).toBe(
      "The value in the event payload can have at most 15 digits. Received 1234567890123456.",
    );
  });

  test.each([
    ["event_name", { event_name: "e".repeat(101) }],
    ["identifier", { identifier: "i".repeat(101) }],
  ])("%s longer than 100 characters is rejected", async (param, extra) => {
    const error = await rejection({ ...usage("1"), ...extra });

    expect(error.param).toBe(param);
    expect(error.message).toMatch(/must be at most 100 characters/);
  });

  test("a missing required parameter is named", async () => {
    const error = await rejection({ event_name: "api_requests" } as Stripe.Billing.MeterEventCreateParams);

    expect(error.code).toBe("parameter_missing");
    expect(error.param).toBe("payload");
  });
});
