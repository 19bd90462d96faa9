import { randomUUID } from "node:crypto";
import { type EmulatorState, type Handler, ok, ruleContext } from "./context.js";
import { invalidFields } from "./errors.js";
import { checkEvent } from "./event-rules.js";
import { isRecord } from "./params.js";
import { sessionJson } from "./sessions.js";

const MAX_EVENTS = 100;
const MAX_LENGTH = 100;
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

interface StreamEvent {
  eventName: string;
  identifier: string;
  payload: Record<string, string>;
  timestamp: number | undefined;
}

/** `POST /v2/billing/meter_event_session`: a token for the stream, valid 15 minutes. */
export const createSession: Handler = (req, state) => {
  if (!isRecord(req.params)) throw invalidFields("The request body must be a JSON object.");
  return ok(sessionJson(state.sessions.create()));
};

/**
 * `POST /v2/billing/meter_event_stream`. Only the request's shape is checked synchronously;
 * "events are processed asynchronously, including validation", so a bad event still gets `{}`
 * and shows up as an error report, never as an HTTP error.
 */
export const streamEvents: Handler = async (req, state) => {
  const events = parseEvents(req.params);
  await req.pause();
  for (const event of events) ingest(state, event);
  return ok({});
};

function ingest(state: EmulatorState, event: StreamEvent): void {
  const report = (code: string, message: string) =>
    state.ledger.report({
      code,
      message,
      source: "v2_stream",
      eventName: event.eventName,
      identifier: event.identifier,
      payload: event.payload,
    });
  const result = checkEvent(event, ruleContext(state));
  if (!result.ok) {
    report(result.failure.asyncCode, result.failure.message);
    return;
  }
  if (state.ledger.isDuplicate(event.identifier)) {
    report("duplicate_identifier", `An event already exists with identifier ${event.identifier}.`);
    return;
  }
  state.ledger.record({
    meterId: result.meter.id,
    eventName: event.eventName,
    customer: result.customer,
    value: result.value,
    identifier: event.identifier,
    timestamp: result.timestamp,
    source: "v2_stream",
    payload: event.payload,
  });
}

function parseEvents(body: unknown): StreamEvent[] {
  if (!isRecord(body)) throw invalidFields("The request body must be a JSON object.");
  const { events } = body;
  if (!Array.isArray(events)) throw invalidFields("events is required and must be an array.");
  if (events.length === 0) throw invalidFields("events must contain at least 1 event.");
  if (events.length > MAX_EVENTS) {
    throw invalidFields(`events must contain at most ${MAX_EVENTS} events; received ${events.length}.`);
  }
  return events.map((raw, i) => parseEvent(raw, `events[${i}]`));
}

function parseEvent(raw: unknown, at: string): StreamEvent {
  if (!isRecord(raw)) throw invalidFields(`${at} must be an object.`);
  const eventName = boundedString(raw.event_name, `${at}.event_name`);
  if (eventName === undefined) throw invalidFields(`${at}.event_name is required.`);
  const identifier = boundedString(raw.identifier, `${at}.identifier`) ?? randomUUID();
  if (!isRecord(raw.payload)) throw invalidFields(`${at}.payload is required and must be an object.`);
  const payload: Record<string, string> = {};
  for (const [key, value] of Object.entries(raw.payload)) {
    if (typeof value !== "string") throw invalidFields(`${at}.payload.${key} must be a string.`);
    payload[key] = value;
  }
  return { eventName, identifier, payload, timestamp: rfc3339Seconds(raw.timestamp, `${at}.timestamp`) };
}

function boundedString(value: unknown, at: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string" || value === "") throw invalidFields(`${at} must be a non-empty string.`);
  if (value.length > MAX_LENGTH) throw invalidFields(`${at} must be at most ${MAX_LENGTH} characters.`);
  return value;
}

function rfc3339Seconds(value: unknown, at: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === "string" && RFC3339.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(ms)) throw invalidFields(`${at} must be an RFC 3339 timestamp.`);
  return Math.floor(ms / 1000);
}
