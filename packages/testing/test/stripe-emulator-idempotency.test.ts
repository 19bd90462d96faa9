import Stripe from "stripe";
import { afterAll, beforeEach, describe, expect, test } from "vitest";
import { type StripeEmulator, startStripeEmulator } from "../src/index.js";

// Idempotency-Key replay (request level), as opposed to identifier uniqueness (event level).

const PATH = "/v1/billing/meter_events";
const emulator: StripeEmulator = await startStripeEmulator({ meters: [{ eventName: "api_requests" }] });
const stripe = new Stripe(emulator.apiKey, { ...emulator.sdkConfig, maxNetworkRetries: 0, telemetry: false });

afterAll(() => emulator.close());
beforeEach(async () => {
  await emulator.settled();
  emulator.reset();
});

const usage = (value: string, identifier = "evt-1"): Stripe.Billing.MeterEventCreateParams => ({
  event_name: "api_requests",
  payload: { stripe_customer_id: "cus_1", value },
  identifier,
});

describe("the same Idempotency-Key", () => {
  test("with the same parameters replays the first answer instead of hitting the duplicate rule", async () => {
    const first = await stripe.billing.meterEvents.create(usage("5"), { idempotencyKey: "key-1" });
    const again = await stripe.billing.meterEvents.create(usage("5"), { idempotencyKey: "key-1" });

    expect(again).toEqual(first);
    expect(again.lastResponse.headers["idempotent-replayed"]).toBe("true");
    expect(again.lastResponse.idempotencyKey).toBe("key-1");
    expect(first.lastResponse.headers["idempotent-replayed"]).toBeUndefined();
    expect(emulator.total("api_requests", "cus_1")).toBe(5);
  });

  test("with different parameters is an idempotency_error", async () => {
    await stripe.billing.meterEvents.create(usage("5"), { idempotencyKey: "key-2" });
    const error = await stripe.billing.meterEvents
      .create(usage("6", "evt-2"), { idempotencyKey: "key-2" })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(error).toMatchObject({ statusCode: 400, rawType: "idempotency_error" });
    expect((error as Error).message).toMatch(/can only be used with the same parameters/);
    expect(emulator.events()).toHaveLength(1);
  });

  test("after a validation error saves nothing, so a corrected request with it goes through", async () => {
    const bad = { event_name: "api_requests", payload: { stripe_customer_id: "cus_1", value: "1.5" } };
    await expect(stripe.billing.meterEvents.create(bad, { idempotencyKey: "key-3" })).rejects.toBeInstanceOf(
      Stripe.errors.StripeInvalidRequestError,
    );

    await stripe.billing.meterEvents.create(usage("2"), { idempotencyKey: "key-3" });
    expect(emulator.total("api_requests", "cus_1")).toBe(2);
  });

  test("while the first request still runs gets 409, which the SDK retries until it can replay", async () => {
    emulator.faults.slow({ path: PATH, delayMs: 300 });
    const patient = new Stripe(emulator.apiKey, {
      ...emulator.sdkConfig,
      maxNetworkRetries: 3,
      telemetry: false,
    });

    const first = patient.billing.meterEvents.create(usage("5"), { idempotencyKey: "key-4" });
    await new Promise((r) => setTimeout(r, 50));
    const second = await patient.billing.meterEvents.create(usage("5"), { idempotencyKey: "key-4" });

    expect(second.identifier).toBe((await first).identifier);
    const statuses = emulator.requests({ path: PATH }).map((r) => r.status);
    expect(statuses).toContain(409);
    expect(emulator.events()).toHaveLength(1);
  });

  test("each SDK call without one gets its own key, so a new call with the same identifier is a duplicate", async () => {
    await stripe.billing.meterEvents.create(usage("5"));

    await expect(stripe.billing.meterEvents.create(usage("5"))).rejects.toThrow(
      "An event already exists with identifier evt-1.",
    );
    const keys = emulator.requests({ path: PATH }).map((r) => r.idempotencyKey);
    expect(new Set(keys).size).toBe(2);
  });
});
