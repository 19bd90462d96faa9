import type Stripe from "stripe";
import { METER_PAYLOAD_KEYS } from "./meter-client.js";

/** Shown in the Dashboard only (not to customers); the operator may rename it there. */
const DISPLAY_NAME = "API usage";

export type MeterSetup =
  | { outcome: "ready"; meter: Stripe.Billing.Meter }
  | { outcome: "created"; meter: Stripe.Billing.Meter }
  | { outcome: "missing" }
  | { outcome: "different"; meter: Stripe.Billing.Meter; differences: string[] };

/** What the sidecar's meter events need from the meter they name. */
export function meterCreateParams(eventName: string): Stripe.Billing.MeterCreateParams {
  return {
    display_name: DISPLAY_NAME,
    event_name: eventName,
    customer_mapping: { type: "by_id", event_payload_key: METER_PAYLOAD_KEYS.customer },
    value_settings: { event_payload_key: METER_PAYLOAD_KEYS.value },
    // Each event carries a window's units (or a late delta for it): only a sum adds them up.
    default_aggregation: { formula: "sum" },
  };
}

/**
 * Finds the meter for `eventName` and creates it when there is none (unless `checkOnly`). An existing
 * meter is never changed: Stripe allows changing only its display name, and reactivating one that
 * someone deactivated is their call, so each difference is reported instead.
 */
export async function setUpMeter(
  stripe: Stripe,
  eventName: string,
  options: { checkOnly: boolean },
): Promise<MeterSetup> {
  const meter = await findMeter(stripe, eventName);
  if (meter === null) {
    if (options.checkOnly) return { outcome: "missing" };
    return { outcome: "created", meter: await stripe.billing.meters.create(meterCreateParams(eventName)) };
  }
  const differences = meterDifferences(meter);
  return differences.length === 0
    ? { outcome: "ready", meter }
    : { outcome: "different", meter, differences };
}

/** The active meter with this event name, else the newest inactive one, else null. */
export async function findMeter(stripe: Stripe, eventName: string): Promise<Stripe.Billing.Meter | null> {
  const matching: Stripe.Billing.Meter[] = [];
  for await (const meter of stripe.billing.meters.list({ limit: 100 })) {
    if (meter.event_name === eventName) matching.push(meter);
  }
  return matching.find((m) => m.status === "active") ?? matching[0] ?? null;
}

/** Each way the meter would not count what the sidecar sends, in words an operator can act on. */
export function meterDifferences(meter: Stripe.Billing.Meter): string[] {
  const differences: string[] = [];
  const { customer, value } = METER_PAYLOAD_KEYS;
  if (meter.customer_mapping.type !== "by_id") {
    differences.push(`customer_mapping.type is "${meter.customer_mapping.type}", not "by_id"`);
  }
  if (meter.customer_mapping.event_payload_key !== customer) {
    differences.push(
      `customer_mapping.event_payload_key is "${meter.customer_mapping.event_payload_key}", but the sidecar sends the customer in "${customer}"`,
    );
  }
  if (meter.value_settings.event_payload_key !== value) {
    differences.push(
      `value_settings.event_payload_key is "${meter.value_settings.event_payload_key}", but the sidecar sends the units in "${value}"`,
    );
  }
  if (meter.default_aggregation.formula !== "sum") {
    differences.push(
      `default_aggregation.formula is "${meter.default_aggregation.formula}", but the sidecar sends each window's units, which only "sum" adds up`,
    );
  }
  if (meter.event_time_window !== null) {
    differences.push(
      `event_time_window is "${meter.event_time_window}": Stripe would count only the last event per customer and ${meter.event_time_window}, but the sidecar sends one per STRIPE_WINDOW`,
    );
  }
  if (meter.status !== "active") {
    differences.push(`status is "${meter.status}": Stripe refuses the meter events the sidecar sends to it`);
  }
  return differences;
}
