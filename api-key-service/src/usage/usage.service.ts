import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { AppError } from "../errors.js";
import { type Granularity, stripeByDay, type UsageQuery, usageByWindow } from "./usage.repository.js";
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
  };
}

/** The longest period each granularity may cover in one answer, to keep answers bounded. */
const MAX_SPAN_MS: Record<Granularity, number> = {
  minute: 86_400_000,
  hour: 31 * 86_400_000,
  day: 366 * 86_400_000,
};

export class UsageService {
  constructor(private readonly db: Kysely<Database>) {}

  async report(q: UsageQuery): Promise<UsageReport> {
    if (q.to <= q.from) throw AppError.invalid("to", "must be after from");
    if (q.to.getTime() - q.from.getTime() > MAX_SPAN_MS[q.granularity]) {
      throw AppError.invalid(
        "to",
        `a ${q.granularity} report covers at most ${MAX_SPAN_MS[q.granularity] / 86_400_000} days`,
      );
    }
    const customer = q.stripeCustomerId;
    const [rows, stripe] = await Promise.all(
      customer
        ? [
            usageByCustomer(this.db, { ...q, stripeCustomerId: customer }),
            stripeByDayForCustomer(this.db, { ...q, stripeCustomerId: customer }),
          ]
        : [usageByWindow(this.db, q), stripeByDay(this.db, q)],
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
] as const;

/** RFC 4180 CSV of the usage windows; values are ids, timestamps and numbers, quoted when needed. */
export function toCsv(windows: UsageWindow[]): string {
  const quote = (v: string | number) =>
    /[",\n\r]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v);
  const lines = [USAGE_CSV_COLUMNS.join(",")];
  for (const w of windows) lines.push(USAGE_CSV_COLUMNS.map((c) => quote(w[c])).join(","));
  return `${lines.join("\r\n")}\r\n`;
}
