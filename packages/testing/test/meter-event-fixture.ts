import Stripe from "stripe";
import { afterAll, beforeEach, expect } from "vitest";
import { manualClock, type StripeEmulator, startStripeEmulator } from "../src/index.js";

/**
 * One emulator per test file that imports this, with three meters (an active one with an id, one
 * with its own payload keys, an inactive one), the official SDK pointed at it, and a clock that every
 * test starts at the same moment.
 */

export const DAY_S = 86_400;
const START_MS = Date.UTC(2026, 0, 15, 12, 0, 0);
export const clock = manualClock(START_MS);
export const nowS = () => Math.floor(clock.now() / 1000);

export const emulator: StripeEmulator = await startStripeEmulator({
  now: clock.now,
  meters: [
    { eventName: "api_requests", id: "mtr_test_requests" },
    { eventName: "tokens", customerKey: "account", valueKey: "tokens" },
    { eventName: "retired", status: "inactive" },
  ],
});
export const stripe = new Stripe(emulator.apiKey, {
  ...emulator.sdkConfig,
  maxNetworkRetries: 0,
  telemetry: false,
});

afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  clock.set(START_MS);
});

/** Runs a create that must fail, and hands back Stripe's error for inspection. */
export async function rejection(
  params: Stripe.Billing.MeterEventCreateParams,
): Promise<Stripe.errors.StripeError> {
  const error = await stripe.billing.meterEvents.create(params).then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(Stripe.errors.StripeError);
  return error as Stripe.errors.StripeError;
}

/** A meter event for the `api_requests` meter and customer cus_1. */
export const usage = (value: string, extra: Partial<Stripe.Billing.MeterEventCreateParams> = {}) => ({
  event_name: "api_requests",
  payload: { stripe_customer_id: "cus_1", value },
  ...extra,
});
