import type { HTTPAccessLogEntry__Output } from "@gateway/proto";

/** The ext_authz filter's namespace in Envoy's dynamic metadata, where the identity is. */
export const EXT_AUTHZ_NAMESPACE = "envoy.filters.http.ext_authz";

export interface UsageEvent {
  keyId: string;
  userId: string;
  stripeCustomerId: string | null;
  /** Start of the minute the request started in, ms since the epoch. */
  minuteMs: number;
  billable: boolean;
  /** What the request costs (ext_authz's `units`); a billable entry adds it to billable units. */
  units: number;
  /** The metadata carried a `units` that is not a whole number in range: billed as 1 unit. */
  invalidUnits: boolean;
  bytesIn: number;
  bytesOut: number;
  /** 2, 3, 4 or 5 for the response code's class; 0 when Envoy produced no response. */
  statusClass: 0 | 2 | 3 | 4 | 5;
  /** x-request-id, to drop the same entry sent twice. */
  requestId: string;
}

export type Skip = "no_identity" | "denied";

export interface BillingRule {
  /** Inclusive ranges of response codes that are billed. */
  billableStatuses: [number, number][];
}

/**
 * The shape of the ids ext_authz puts in the metadata (the API's key and user ids). Anything else did
 * not come from it, and would not fit the usage table's index or Postgres text (a NUL) either.
 */
const IDENTITY = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const STRIPE_CUSTOMER = /^cus_[A-Za-z0-9]{1,64}$/;
/** Instants a timestamptz can hold and an ISO string can say plainly: 1970 up to the year 10000. */
const LATEST_MS = Date.UTC(10_000, 0, 1);

/** The most one request may cost: the contract with ext_authz, and a bound on one entry's weight. */
export const MAX_UNITS = 1_000_000;
/** A whole number without sign, leading zeros, spaces or exponent, as ext_authz writes it. */
const WHOLE_NUMBER = /^[1-9][0-9]{0,6}$/;

/** Envoy's uint64 byte counts; one beyond 2^53 (9 PB) cannot be real, and would overflow a bigint sum. */
const num = (text: string | undefined) => {
  const value = text ? Number(text) : 0;
  return Number.isSafeInteger(value) && value >= 0 ? value : 0;
};

/**
 * Reads one HTTP access-log entry. The identity is taken only from the ext_authz dynamic metadata,
 * which a client cannot set; entries without it (routes without ext_authz, such as /health) and
 * entries ext_authz denied are not usage.
 */
export function readEntry(
  entry: HTTPAccessLogEntry__Output,
  rule: BillingRule,
  nowMs: number,
): UsageEvent | Skip {
  const common = entry.common_properties;
  const fields = common?.metadata?.filter_metadata?.[EXT_AUTHZ_NAMESPACE]?.fields;
  const keyId = fields?.api_key_id?.stringValue;
  const userId = fields?.user_id?.stringValue;
  if (!keyId || !userId || !IDENTITY.test(keyId) || !IDENTITY.test(userId)) return "no_identity";
  if (fields?.denied_reason?.stringValue || entry.response?.response_code_details === "ext_authz_denied") {
    return "denied";
  }
  const code = entry.response?.response_code?.value;
  // A start time no clock could have read is replaced by the time the entry arrived.
  const sentMs = Number(common?.start_time?.seconds) * 1000;
  const startMs = sentMs >= 0 && sentMs < LATEST_MS ? sentMs : nowMs;
  const customer = fields?.stripe_customer_id?.stringValue;
  const units = readUnits(fields?.units);
  return {
    keyId,
    userId,
    stripeCustomerId: customer && STRIPE_CUSTOMER.test(customer) ? customer : null,
    minuteMs: startMs - (startMs % 60_000),
    billable: code !== undefined && rule.billableStatuses.some(([low, high]) => code >= low && code <= high),
    units: units ?? 1,
    invalidUnits: units === undefined,
    bytesIn: num(entry.request?.request_headers_bytes) + num(entry.request?.request_body_bytes),
    bytesOut: num(entry.response?.response_headers_bytes) + num(entry.response?.response_body_bytes),
    statusClass: statusClass(code),
    requestId: entry.request?.request_id || common?.stream_id || "",
  };
}

/**
 * The request's cost from the metadata. Absent means 1 (entries from before routes had costs);
 * anything but a stringValue holding a whole number in 1..MAX_UNITS is undefined: the caller bills
 * 1 unit and counts it, so a broken producer shows in a metric instead of losing the request.
 */
function readUnits(value: { stringValue?: string } | undefined): number | undefined {
  if (value === undefined) return 1;
  const text = value.stringValue;
  if (text === undefined || !WHOLE_NUMBER.test(text)) return undefined;
  const units = Number(text);
  return units <= MAX_UNITS ? units : undefined;
}

function statusClass(code: number | undefined): UsageEvent["statusClass"] {
  if (code === undefined || code < 200) return 0;
  if (code < 300) return 2;
  if (code < 400) return 3;
  if (code < 500) return 4;
  return 5;
}
