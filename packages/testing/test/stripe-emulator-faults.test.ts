import Stripe from "stripe";
import { afterAll, beforeEach, describe, expect, test } from "vitest";
import { type StripeEmulator, startStripeEmulator } from "../src/index.js";

// Injected failures as the official SDK experiences them, and which of them it retries on its own.

const PATH = "/v1/billing/meter_events";
const emulator: StripeEmulator = await startStripeEmulator({ meters: [{ eventName: "api_requests" }] });
const client = (config: Partial<Stripe.StripeConfig> = {}) =>
  new Stripe(emulator.apiKey, { ...emulator.sdkConfig, telemetry: false, ...config });

afterAll(() => emulator.close());
beforeEach(async () => {
  await emulator.settled();
  emulator.reset();
});

const usage = (
  customer: string,
  value = "1",
  identifier?: string,
): Stripe.Billing.MeterEventCreateParams => ({
  event_name: "api_requests",
  payload: { stripe_customer_id: customer, value },
  ...(identifier === undefined ? {} : { identifier }),
});
const sent = () => emulator.requests({ path: PATH });

describe("429 rate limits", () => {
  test("surface as StripeRateLimitError and are not retried by default", async () => {
    emulator.faults.rateLimit({ path: PATH, times: 3 });

    const error = await client({ maxNetworkRetries: 2 })
      .billing.meterEvents.create(usage("cus_1"))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(error).toMatchObject({ statusCode: 429, code: "rate_limit" });
    expect(sent()).toHaveLength(1);
    expect(emulator.events()).toHaveLength(0);
  });

  test("with Stripe-Should-Retry: true the SDK retries, with the same idempotency key", async () => {
    emulator.faults.rateLimit({ path: PATH, shouldRetry: true });

    await client({ maxNetworkRetries: 2 }).billing.meterEvents.create(usage("cus_1", "4"));

    expect(sent().map((r) => r.status)).toEqual([429, 200]);
    expect(new Set(sent().map((r) => r.idempotencyKey)).size).toBe(1);
    expect(emulator.total("api_requests", "cus_1")).toBe(4);
  });

  test("a fault limited to another path leaves meter events alone", async () => {
    emulator.faults.rateLimit({ path: /event_summaries$/ });

    await client({ maxNetworkRetries: 0 }).billing.meterEvents.create(usage("cus_1"));
    expect(emulator.faults.pending()).toBe(1);
  });
});

describe("5xx errors", () => {
  test("are retried (maxNetworkRetries) and the event is counted once", async () => {
    emulator.faults.serverError({ path: PATH, status: 500, times: 2 });

    const event = await client({ maxNetworkRetries: 2 }).billing.meterEvents.create(usage("cus_1", "3"));

    expect(event.object).toBe("billing.meter_event");
    expect(sent().map((r) => r.status)).toEqual([500, 500, 200]);
    expect(emulator.total("api_requests", "cus_1")).toBe(3);
  });

  test("give up as StripeAPIError once retries run out", async () => {
    emulator.faults.serverError({ path: PATH, status: 503, times: 5 });

    const error = await client({ maxNetworkRetries: 1 })
      .billing.meterEvents.create(usage("cus_1"))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(sent()).toHaveLength(2);
  });

  test("are not retried when Stripe-Should-Retry is false", async () => {
    emulator.faults.serverError({ path: PATH, shouldRetry: false });

    await expect(
      client({ maxNetworkRetries: 2 }).billing.meterEvents.create(usage("cus_1")),
    ).rejects.toBeInstanceOf(Stripe.errors.StripeAPIError);
    expect(sent()).toHaveLength(1);
  });
});

describe("slow answers", () => {
  test("past the SDK timeout the call fails as a connection error, though Stripe may still count it", async () => {
    emulator.faults.slow({ path: PATH, delayMs: 600 });

    const error = await client({ maxNetworkRetries: 0, timeout: 150 })
      .billing.meterEvents.create(usage("cus_1"))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeConnectionError);
    expect((error as Error).message).toMatch(/timeout/);
    expect(emulator.events()).toHaveLength(0);
    await emulator.settled();
    expect(emulator.events()).toHaveLength(1);
  });

  test("within the SDK timeout the call just takes longer", async () => {
    emulator.faults.slow({ path: PATH, delayMs: 200 });

    const started = Date.now();
    await client({ maxNetworkRetries: 0, timeout: 2_000 }).billing.meterEvents.create(usage("cus_1"));
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
  });
});

describe("dropped connections", () => {
  test("before processing: the SDK retries a reset once even with retries off", async () => {
    emulator.faults.drop({ path: PATH });

    await client({ maxNetworkRetries: 0 }).billing.meterEvents.create(usage("cus_1", "2"));

    expect(sent().map((r) => r.status)).toEqual(["dropped", 200]);
    expect(emulator.total("api_requests", "cus_1")).toBe(2);
  });

  test("after processing: the retry replays the saved answer instead of counting twice", async () => {
    emulator.faults.drop({ path: PATH, afterProcessing: true });

    const event = await client({ maxNetworkRetries: 1 }).billing.meterEvents.create(
      usage("cus_1", "2", "lost-1"),
    );

    expect(event.identifier).toBe("lost-1");
    expect(sent().map((r) => [r.status, r.replayed])).toEqual([
      ["dropped", false],
      [200, true],
    ]);
    expect(emulator.total("api_requests", "cus_1")).toBe(2);
  });
});

describe("one concurrent call per customer per meter", () => {
  test("a second call for the same customer while one is in flight gets 429 rate_limit", async () => {
    emulator.faults.slow({ path: PATH, delayMs: 300 });
    const stripe = client({ maxNetworkRetries: 0 });

    const first = stripe.billing.meterEvents.create(usage("cus_1", "1", "a"));
    await until(() => sent().length === 1);
    const second = await stripe.billing.meterEvents.create(usage("cus_1", "1", "b")).catch((e: unknown) => e);

    expect(second).toBeInstanceOf(Stripe.errors.StripeRateLimitError);
    expect(second).toMatchObject({ statusCode: 429, code: "rate_limit" });
    await expect(first).resolves.toMatchObject({ identifier: "a" });
    expect(emulator.events().map((e) => e.identifier)).toEqual(["a"]);
  });

  test("calls for different customers run side by side", async () => {
    const emu = await startStripeEmulator({
      meters: [{ eventName: "api_requests" }],
      meterEventLatencyMs: 150,
    });
    const stripe = new Stripe(emu.apiKey, { ...emu.sdkConfig, maxNetworkRetries: 0, telemetry: false });
    try {
      await Promise.all(["cus_1", "cus_2", "cus_3"].map((c) => stripe.billing.meterEvents.create(usage(c))));
      expect(emu.events()).toHaveLength(3);
    } finally {
      await emu.close();
    }
  });
});

async function until(condition: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !condition(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(condition()).toBe(true);
}
