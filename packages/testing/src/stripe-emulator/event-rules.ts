import type { MeterRegistry } from "./meters.js";
import type { Meter } from "./types.js";

/** A meter event as sent, before any meter rule ran. */
export interface CandidateEvent {
  eventName: string;
  payload: Record<string, string>;
  /** Unix seconds; the emulator clock when absent. */
  timestamp: number | undefined;
}

/**
 * Checks real Stripe may run after accepting an event (reference §1.4), so the emulator can be
 * told to report them instead of rejecting; every other rule is a synchronous 400 on v1.
 */
export type DeferrableCheck = "payload_keys" | "unknown_customer";

export interface RuleFailure {
  message: string;
  param: string;
  /** The code Stripe's async error report uses for this problem (stripe-node V2 Core Events). */
  asyncCode: string;
  deferrable: DeferrableCheck | null;
}

export type RuleResult =
  | { ok: true; meter: Meter; customer: string; value: string; timestamp: number }
  | { ok: false; failure: RuleFailure };

export interface RuleContext {
  meters: MeterRegistry;
  nowSeconds: number;
  /** When set, a customer outside it is unknown to the account. */
  knownCustomers: ReadonlySet<string> | null;
}

const PAST_WINDOW_S = 35 * 24 * 60 * 60;
const FUTURE_WINDOW_S = 5 * 60;
const MAX_VALUE_DIGITS = 15;

const fail = (failure: Omit<RuleFailure, "deferrable"> & { deferrable?: DeferrableCheck }): RuleResult => ({
  ok: false,
  failure: { deferrable: null, ...failure },
});

/** The meter rules of reference §0/§1.2, in the order a failing event hits them. */
export function checkEvent(event: CandidateEvent, ctx: RuleContext): RuleResult {
  const meter = ctx.meters.byEventName(event.eventName);
  if (meter === undefined || meter.status !== "active") {
    return fail({
      message: `No active meter found for event name "${event.eventName}"`,
      param: "event_name",
      asyncCode: meter === undefined ? "no_meter" : "archived_meter",
    });
  }
  const timestamp = event.timestamp ?? ctx.nowSeconds;
  const oldest = ctx.nowSeconds - PAST_WINDOW_S;
  if (timestamp < oldest) {
    return fail({
      message: `The event timestamp cannot be more than 35 days in past. Expected a timestamp greater than or equal to ${oldest}.`,
      param: "timestamp",
      asyncCode: "timestamp_too_far_in_past",
    });
  }
  const newest = ctx.nowSeconds + FUTURE_WINDOW_S;
  if (timestamp > newest) {
    return fail({
      message: `The event timestamp cannot be more than 5 minutes in the future. Expected a timestamp less than or equal to ${newest}.`,
      param: "timestamp",
      asyncCode: "timestamp_in_future",
    });
  }
  const customer = event.payload[meter.customerKey];
  if (customer === undefined || customer === "") {
    return fail({
      message: `Customer mapping key ${meter.customerKey} not found in payload.`,
      param: "payload",
      asyncCode: "meter_event_no_customer_defined",
      deferrable: "payload_keys",
    });
  }
  const value = event.payload[meter.valueKey];
  if (value === undefined || value === "") {
    return fail({
      message: `Value settings key ${meter.valueKey} not found in payload.`,
      param: "payload",
      asyncCode: "meter_event_invalid_value",
      deferrable: "payload_keys",
    });
  }
  const valueFailure = checkValue(value, `payload[${meter.valueKey}]`);
  if (valueFailure !== null) return { ok: false, failure: valueFailure };
  if (ctx.knownCustomers !== null && !ctx.knownCustomers.has(customer)) {
    return fail({
      message: `No such customer: '${customer}'`,
      param: `payload[${meter.customerKey}]`,
      asyncCode: "meter_event_customer_not_found",
      deferrable: "unknown_customer",
    });
  }
  return { ok: true, meter, customer, value, timestamp };
}

/** Whole numbers only (negatives correct usage), with at most 15 digits since 2026-04-22.dahlia. */
function checkValue(value: string, param: string): RuleFailure | null {
  if (!/^[+-]?\d+$/.test(value)) {
    return {
      message: `The value in the event payload must be a whole number. Received ${value}.`,
      param,
      asyncCode: "meter_event_invalid_value",
      deferrable: null,
    };
  }
  const digits = value.replace(/^[+-]/, "").replace(/^0+(?=\d)/, "");
  if (digits.length > MAX_VALUE_DIGITS) {
    return {
      message: `The value in the event payload can have at most ${MAX_VALUE_DIGITS} digits. Received ${value}.`,
      param,
      asyncCode: "meter_event_value_too_many_digits",
      deferrable: null,
    };
  }
  return null;
}
