import { randomUUID } from "node:crypto";
import {
  type EmulatorState,
  type Handler,
  type HandlerResult,
  nowSeconds,
  ok,
  ruleContext,
} from "./context.js";
import { ApiError, missingParam } from "./errors.js";
import { checkEvent } from "./event-rules.js";
import type { FormObject } from "./form.js";
import { FormParams } from "./params.js";

const MAX_LENGTH = 100;
const ALLOWED = ["event_name", "payload", "identifier", "timestamp", "expand"] as const;

/** `POST /v1/billing/meter_events`: synchronous validation, then the event counts at once. */
export const createMeterEvent: Handler = async (req, state) => {
  const params = new FormParams(req.params as FormObject, ALLOWED);
  params.ignoreExpand();
  const eventName = params.requiredString("event_name", MAX_LENGTH);
  const payload = params.stringMap("payload");
  if (payload === undefined) throw missingParam("payload");
  const identifier = params.string("identifier", MAX_LENGTH) ?? randomUUID();
  const sentTimestamp = params.integer("timestamp");

  const result = checkEvent({ eventName, payload, timestamp: sentTimestamp }, ruleContext(state));
  if (!result.ok) {
    const { failure } = result;
    if (failure.deferrable === null || !state.deferredChecks.has(failure.deferrable)) {
      throw new ApiError(400, {
        type: "invalid_request_error",
        message: failure.message,
        param: failure.param,
      });
    }
    // Stripe accepts it and files an error report later; the sender sees a normal 200.
    await req.pause(state.meterEventLatencyMs);
    rejectDuplicate(state, identifier);
    state.ledger.report({
      code: failure.asyncCode,
      message: failure.message,
      source: "v1",
      eventName,
      identifier,
      payload,
    });
    return answer(state, eventName, identifier, payload, sentTimestamp ?? nowSeconds(state));
  }

  const release = state.slots.acquire(result.meter.id, result.customer);
  try {
    await req.pause(state.meterEventLatencyMs);
    // Checked when the event commits, so of two overlapping sends only the second is the duplicate.
    rejectDuplicate(state, identifier);
    state.ledger.record({
      meterId: result.meter.id,
      eventName,
      customer: result.customer,
      value: result.value,
      identifier,
      timestamp: result.timestamp,
      source: "v1",
      payload,
    });
    return answer(state, eventName, identifier, payload, result.timestamp);
  } finally {
    release();
  }
};

/**
 * Real Stripe's duplicate answer as reported against live mode (reference §1.4): 400, no `code`,
 * `Stripe-Should-Retry: false`. `param` is left out because reports disagree on it.
 */
function rejectDuplicate(state: EmulatorState, identifier: string): void {
  if (!state.ledger.isDuplicate(identifier)) return;
  throw new ApiError(
    400,
    { type: "invalid_request_error", message: `An event already exists with identifier ${identifier}.` },
    { "Stripe-Should-Retry": "false" },
  );
}

function answer(
  state: EmulatorState,
  eventName: string,
  identifier: string,
  payload: Record<string, string>,
  timestamp: number,
): HandlerResult {
  return ok({
    object: "billing.meter_event",
    created: nowSeconds(state),
    event_name: eventName,
    identifier,
    livemode: false,
    payload,
    timestamp,
  });
}
