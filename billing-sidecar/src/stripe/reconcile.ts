import type { Database } from "@gateway/db";
import { type Kysely, sql } from "kysely";
import type Stripe from "stripe";

export interface ReconcileRow {
  customer: string;
  hour: string;
  /** Units the outbox says were delivered (meter event values are units, not requests). */
  sent: number;
  /** Units Stripe's meter event summaries say it has. */
  stripe: number;
  difference: number;
}

export interface ReconcileReport {
  meterId: string;
  rows: ReconcileRow[];
  mismatches: number;
}

/**
 * Compares, per customer and hour, the units the outbox delivered with Stripe's meter event summaries
 * for the same period: units with units, as both sides hold the meter events' values. Stripe
 * aggregates asynchronously: a recent hour may lag.
 */
export async function reconcile(
  db: Kysely<Database>,
  stripe: Stripe,
  eventName: string,
  from: Date,
  to: Date,
): Promise<ReconcileReport> {
  const meter = (await stripe.billing.meters.list({ limit: 100 })).data.find(
    (m) => m.event_name === eventName,
  );
  if (!meter) throw new Error(`Stripe has no meter for the event name "${eventName}"`);
  const { rows } = await sql<{ customer: string; hour: Date; sent: string }>`
    select stripe_customer_id as customer, date_trunc('hour', window_start, 'UTC') as hour, sum(value)::text as sent
      from stripe_outbox
     where status = 'sent' and event_name = ${eventName} and window_start >= ${from} and window_start < ${to}
     group by 1, 2
  `.execute(db);
  const key = (customer: string, hourMs: number) => `${customer} ${hourMs}`;
  const sent = new Map(rows.map((r) => [key(r.customer, r.hour.getTime()), Number(r.sent)]));
  const customers = [...new Set(rows.map((r) => r.customer))];
  const atStripe = new Map<string, number>();
  for (const customer of customers) {
    const summaries = stripe.billing.meters.listEventSummaries(meter.id, {
      customer,
      start_time: Math.floor(from.getTime() / 1000),
      end_time: Math.floor(to.getTime() / 1000),
      value_grouping_window: "hour",
    });
    for await (const s of summaries) atStripe.set(key(customer, s.start_time * 1000), s.aggregated_value);
  }
  const keys = [...new Set([...sent.keys(), ...atStripe.keys()])].sort();
  const report = keys.map((k) => {
    const [customer = "", hourMs = "0"] = k.split(" ");
    const s = sent.get(k) ?? 0;
    const t = atStripe.get(k) ?? 0;
    return { customer, hour: new Date(Number(hourMs)).toISOString(), sent: s, stripe: t, difference: t - s };
  });
  return { meterId: meter.id, rows: report, mismatches: report.filter((r) => r.difference !== 0).length };
}
