/** The aggregation formulas a Stripe meter can have (`default_aggregation.formula`). */
export type MeterFormula = "sum" | "count" | "last";

/** How a test declares a meter; everything but the event name has Stripe's default. */
export interface MeterInit {
  eventName: string;
  /** Stripe meter id; generated (`mtr_test_…`) when left out. */
  id?: string;
  displayName?: string;
  /** Default `sum`. */
  formula?: MeterFormula;
  /** `customer_mapping.event_payload_key`, default `stripe_customer_id`. */
  customerKey?: string;
  /** `value_settings.event_payload_key`, default `value`. */
  valueKey?: string;
  /** Pre-aggregated ingestion: only the newest event per customer and hour/day counts. Default raw (null). */
  eventTimeWindow?: "hour" | "day" | null;
  /** An inactive meter accepts no events. Default `active`. */
  status?: "active" | "inactive";
}

/** A meter as the emulator holds it. */
export interface Meter {
  id: string;
  eventName: string;
  displayName: string;
  formula: MeterFormula;
  customerKey: string;
  valueKey: string;
  eventTimeWindow: "hour" | "day" | null;
  status: "active" | "inactive";
  /** Unix seconds. */
  created: number;
  updated: number;
  deactivatedAt: number | null;
}

/** Which API accepted an event. */
export type EventSource = "v1" | "v2_stream";

/** A meter event the emulator accepted and counts. */
export interface RecordedMeterEvent {
  meterId: string;
  eventName: string;
  customer: string;
  /** The payload's value, as sent (a whole-number string). */
  value: string;
  identifier: string;
  /** Event time, unix seconds. */
  timestamp: number;
  /** When the emulator accepted it, unix milliseconds on the emulator clock. */
  receivedAtMs: number;
  source: EventSource;
  payload: Record<string, string>;
}

/**
 * An event accepted on the wire but dropped by validation that real Stripe runs asynchronously
 * (reported through `v1.billing.meter.error_report_triggered` / `no_meter_found`).
 */
export interface ErrorReport {
  /** Stripe's async error code (`no_meter`, `timestamp_too_far_in_past`, …), or the emulator's own `duplicate_identifier`. */
  code: string;
  message: string;
  source: EventSource;
  eventName: string;
  identifier: string | null;
  payload: Record<string, string>;
  reportedAtMs: number;
}

/** One HTTP request as the emulator saw it. */
export interface RequestRecord {
  requestId: string;
  method: string;
  /** Path without the query string. */
  path: string;
  query: string;
  body: string;
  idempotencyKey: string | null;
  receivedAtMs: number;
  /** Status answered, or `dropped` when the connection was cut; null while still in progress. */
  status: number | "dropped" | null;
  /** True when the answer was replayed from the idempotency cache. */
  replayed: boolean;
  /** The injected fault that shaped this answer, if any. */
  fault: string | null;
}

/** A per-customer, per-meter total computed with the meter's formula over every accepted event. */
export interface MeterTotal {
  meterId: string;
  eventName: string;
  customer: string;
  value: number;
  events: number;
}
