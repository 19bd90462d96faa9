import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { AppError } from "../errors.js";
import {
  type Granularity,
  stripeByDay,
  stripeCutoff,
  type UsageQuery,
  type UsageRow,
  usageByWindow,
} from "./usage.repository.js";
import { stripeByDayForCustomer, usageByCustomer } from "./usage-by-customer.js";

export interface UsageWindow {
  key_id: string;
  window_start: string;
  /** Checks ext_authz allowed in the window. */
  allowed: number;
  denied: number;
  /** Requests the access log delivered. */
  requests: number;
  billable_requests: number;
  /** What the billable requests cost (a route can cost more than one unit): what Stripe is sent. */
  billable_units: number;
  /** allowed − requests: what the lossy access-log stream did not deliver (negative: more served than allowed). */
  gap: number;
  bytes_in: number;
  bytes_out: number;
  status_2xx: number;
  status_3xx: number;
  status_4xx: number;
  status_5xx: number;
  /** Billable units recorded without a Stripe customer, not billed since, that Stripe would still take. */
  unbilled_units: number;
  /** Units recorded without a customer that were enqueued for Stripe once one was set. */
  backfilled_units: number;
  /** Units recorded without a customer that can no longer be billed; why in `unbillable_reason`. */
  unbillable_units: number;
  unbillable_reason: string | null;
}

/**
 * The customer was set when the usage was about to leave the window Stripe takes meter events for
 * (the sidecar keeps an hour to deliver what it backfills).
 */
export const UNBILLABLE_SET_TOO_LATE =
  "within an hour of Stripe's 35-day limit for meter events when the customer was set, too late to send";
/** No customer was set while Stripe would still have taken the usage. */
export const UNBILLABLE_NO_CUSTOMER =
  "recorded without a Stripe customer, and none was set within Stripe's 35-day window for meter events";

/** Both reasons when a window holds both kinds of unbillable units (a window across the 35-day line). */
function unbillableReason(r: UsageRow): string | null {
  const reasons = [];
  if (Number(r.unbillable_late_units) > 0) reasons.push(UNBILLABLE_SET_TOO_LATE);
  if (Number(r.unbillable_aged_units) > 0) reasons.push(UNBILLABLE_NO_CUSTOMER);
  return reasons.length > 0 ? reasons.join("; ") : null;
}

export interface UsageReport {
  data: UsageWindow[];
  stripe: { stripe_customer_id: string; day: string; sent: number; pending: number; dead: number }[];
  totals: {
    allowed: number;
    requests: number;
    billable_requests: number;
    billable_units: number;
    gap: number;
    unbilled_units: number;
    backfilled_units: number;
    unbillable_units: number;
  };
}

/** The longest period each granularity may cover in one answer, to keep answers bounded. */
const MAX_SPAN_MS: Record<Granularity, number> = {
  minute: 86_400_000,
  hour: 31 * 86_400_000,
  day: 366 * 86_400_000,
};

export class UsageService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async report(q: UsageQuery): Promise<UsageReport> {
    if (q.to <= q.from) throw AppError.invalid("to", "must be after from");
    if (q.to.getTime() - q.from.getTime() > MAX_SPAN_MS[q.granularity]) {
      throw AppError.invalid(
        "to",
        `a ${q.granularity} report covers at most ${MAX_SPAN_MS[q.granularity] / 86_400_000} days`,
      );
    }
    const customer = q.stripeCustomerId;
    const billableSince = stripeCutoff(this.now());
    const [rows, stripe] = await Promise.all(
      customer
        ? [
            usageByCustomer(this.db, { ...q, stripeCustomerId: customer }, billableSince),
            stripeByDayForCustomer(this.db, { ...q, stripeCustomerId: customer }),
          ]
        : [usageByWindow(this.db, q, billableSince), stripeByDay(this.db, q)],
    );
    const data = rows.map((r) => {
      const allowed = Number(r.allowed);
      const requests = Number(r.requests);
      return {
        key_id: r.key_id,
        window_start: r.window_start.toISOString(),
        allowed,
        denied: Number(r.denied),
        requests,
        billable_requests: Number(r.billable_requests),
        billable_units: Number(r.billable_units),
        gap: allowed - requests,
        bytes_in: Number(r.bytes_in),
        bytes_out: Number(r.bytes_out),
        status_2xx: Number(r.status_2xx),
        status_3xx: Number(r.status_3xx),
        status_4xx: Number(r.status_4xx),
        status_5xx: Number(r.status_5xx),
        unbilled_units: Number(r.unbilled_units),
        backfilled_units: Number(r.backfilled_units),
        unbillable_units: Number(r.unbillable_late_units) + Number(r.unbillable_aged_units),
        unbillable_reason: unbillableReason(r),
      };
    });
    const sum = (f: (w: UsageWindow) => number) => data.reduce((n, w) => n + f(w), 0);
    return {
      data,
      stripe: stripe.map((s) => ({
        stripe_customer_id: s.stripe_customer_id,
        day: s.day.toISOString().slice(0, 10),
        sent: Number(s.sent),
        pending: Number(s.pending),
        dead: Number(s.dead),
      })),
      totals: {
        allowed: sum((w) => w.allowed),
        requests: sum((w) => w.requests),
        billable_requests: sum((w) => w.billable_requests),
        billable_units: sum((w) => w.billable_units),
        gap: sum((w) => w.gap),
        unbilled_units: sum((w) => w.unbilled_units),
        backfilled_units: sum((w) => w.backfilled_units),
        unbillable_units: sum((w) => w.unbillable_units),
      },
    };
  }
}

export const USAGE_CSV_COLUMNS = [
  "key_id",
  "window_start",
  "allowed",
  "denied",
  "requests",
  "billable_requests",
  "billable_units",
  "gap",
  "bytes_in",
  "bytes_out",
  "status_2xx",
  "status_3xx",
  "status_4xx",
  "status_5xx",
  "unbilled_units",
  "backfilled_units",
  "unbillable_units",
  "unbillable_reason",
] as const;

/** RFC 4180 CSV of the usage windows; values are ids, timestamps, numbers and reasons, quoted when needed. */
export function toCsv(windows: UsageWindow[]): string {
  const quote = (v: string | number | null) =>
    v === null ? "" : /[",\n\r]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);
  const lines = [USAGE_CSV_COLUMNS.join(",")];
  for (const w of windows) lines.push(USAGE_CSV_COLUMNS.map((c) => quote(w[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
