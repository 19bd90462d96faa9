import type { Queryable } from "@gateway/db";
import { type RawBuilder, sql } from "kysely";

export type Granularity = "minute" | "hour" | "day";

export interface UsageQuery {
  userId?: string;
  keyId?: string;
  /** The keys billed to this customer (usage-by-customer.ts), for finance. */
  stripeCustomerId?: string;
  from: Date;
  to: Date;
  granularity: Granularity;
}

export interface UsageRow {
  key_id: string;
  window_start: Date;
  allowed: string;
  denied: string;
  requests: string;
  billable_requests: string;
  billable_units: string;
  bytes_in: string;
  bytes_out: string;
  status_2xx: string;
  status_3xx: string;
  status_4xx: string;
  status_5xx: string;
  /** Units recorded without a customer that were enqueued for Stripe once one was set. */
  backfilled_units: string;
  /** Units recorded without a customer, not billed since, that Stripe would still take. */
  unbilled_units: string;
  /** Units recorded without a customer that were too old for Stripe when one was set. */
  unbillable_late_units: string;
  /** Units recorded without a customer, not billed since, and now too old for Stripe. */
  unbillable_aged_units: string;
}

/** Stripe takes meter events timestamped at most 35 days before it receives them. */
export const STRIPE_MAX_EVENT_AGE_MS = 35 * 86_400_000;
export const stripeCutoff = (now: Date) => new Date(now.getTime() - STRIPE_MAX_EVENT_AGE_MS);

/**
 * The columns on customerless usage shared by both usage queries, per key and window. A row's units
 * still owed are its billable units less what a backfill settled (billing-sidecar backfill.repository.ts);
 * `billableSince` is the oldest minute Stripe would still take.
 */
export const unbilledSums = (billableSince: Date) => sql`
  sum(backfilled_units) as backfilled_units,
  sum(billable_units - backfilled_units - unbillable_units)
    filter (where stripe_customer_id is null and minute >= ${billableSince}) as unbilled_units,
  sum(unbillable_units) as unbillable_late_units,
  sum(billable_units - backfilled_units - unbillable_units)
    filter (where stripe_customer_id is null and minute < ${billableSince}) as unbillable_aged_units`;

export const unbilledColumns = sql`
  coalesce(s.backfilled_units, 0)::text as backfilled_units, coalesce(s.unbilled_units, 0)::text as unbilled_units,
  coalesce(s.unbillable_late_units, 0)::text as unbillable_late_units,
  coalesce(s.unbillable_aged_units, 0)::text as unbillable_aged_units`;

/** Which rows a usage report reads: the checks of some keys, and some of the served usage. */
export interface UsageSelection {
  granularity: Granularity;
  from: Date;
  to: Date;
  /** A condition on authz_counts.key_id. */
  checkedKeys: RawBuilder<unknown>;
  /** A condition on usage_minutes, the period included. */
  served: RawBuilder<unknown>;
}

/**
 * Per key and window: what ext_authz allowed and denied (authz_counts) beside what the access log
 * delivered (usage_minutes). The two are joined in full, so a window only one side saw still shows.
 * Both reports (by user or key, and by Stripe customer) are this query with other selections.
 */
export function usageWindowsSql(selection: UsageSelection, billableSince: Date) {
  const { granularity, from, to } = selection;
  const bucket = (column: string) => sql`date_trunc(${granularity}, ${sql.ref(column)}, 'UTC')`;
  return sql<UsageRow>`
    with authz as (
      select key_id, ${bucket("minute")} as window_start, sum(allowed) as allowed, sum(denied) as denied
        from authz_counts
       where ${selection.checkedKeys} and minute >= ${from} and minute < ${to}
       group by 1, 2
    ), served as (
      select key_id, ${bucket("minute")} as window_start, sum(requests) as requests,
             sum(billable_requests) as billable_requests, sum(billable_units) as billable_units,
             sum(bytes_in) as bytes_in, sum(bytes_out) as bytes_out,
             sum(status_2xx) as status_2xx, sum(status_3xx) as status_3xx,
             sum(status_4xx) as status_4xx, sum(status_5xx) as status_5xx, ${unbilledSums(billableSince)}
        from usage_minutes
       where ${selection.served}
       group by 1, 2
    )
    select coalesce(a.key_id, s.key_id) as key_id, coalesce(a.window_start, s.window_start) as window_start,
           coalesce(a.allowed, 0)::text as allowed, coalesce(a.denied, 0)::text as denied,
           coalesce(s.requests, 0)::text as requests, coalesce(s.billable_requests, 0)::text as billable_requests,
           coalesce(s.billable_units, 0)::text as billable_units,
           coalesce(s.bytes_in, 0)::text as bytes_in, coalesce(s.bytes_out, 0)::text as bytes_out,
           coalesce(s.status_2xx, 0)::text as status_2xx, coalesce(s.status_3xx, 0)::text as status_3xx,
           coalesce(s.status_4xx, 0)::text as status_4xx, coalesce(s.status_5xx, 0)::text as status_5xx,
           ${unbilledColumns}
      from authz a full outer join served s on a.key_id = s.key_id and a.window_start = s.window_start
     order by 2, 1
  `;
}

/** Per key and window, for one key or all of a user's keys. */
export async function usageByWindow(
  db: Queryable,
  q: UsageQuery,
  billableSince = stripeCutoff(new Date()),
): Promise<UsageRow[]> {
  const keys = q.keyId
    ? sql`select ${q.keyId}::text as id`
    : sql`select id from api_keys where user_id = ${q.userId ?? ""}`;
  const selection: UsageSelection = {
    ...q,
    checkedKeys: sql`key_id in (${keys})`,
    served: sql`key_id in (${keys}) and minute >= ${q.from} and minute < ${q.to}`,
  };
  const { rows } = await usageWindowsSql(selection, billableSince).execute(db);
  return rows;
}

export interface StripeDayRow {
  stripe_customer_id: string;
  day: Date;
  sent: string;
  pending: string;
  dead: string;
}

/**
 * What the outbox holds per customer and day for the customers this usage billed: at the request, or
 * by a backfill once a customer was set.
 */
export async function stripeByDay(db: Queryable, q: UsageQuery): Promise<StripeDayRow[]> {
  const usage = q.keyId
    ? sql`from usage_minutes where key_id = ${q.keyId} and minute >= ${q.from} and minute < ${q.to}`
    : sql`from usage_minutes where user_id = ${q.userId ?? ""} and minute >= ${q.from} and minute < ${q.to}`;
  const customers = sql`select stripe_customer_id ${usage} union select backfill_customer_id ${usage}`;
  const { rows } = await sql<StripeDayRow>`
    select stripe_customer_id, date_trunc('day', window_start, 'UTC') as day,
           coalesce(sum(value) filter (where status = 'sent'), 0)::text as sent,
           coalesce(sum(value) filter (where status = 'pending'), 0)::text as pending,
           coalesce(sum(value) filter (where status = 'dead'), 0)::text as dead
      from stripe_outbox
     where stripe_customer_id in (${customers}) and window_start >= ${q.from} and window_start < ${q.to}
     group by 1, 2
     order by 2, 1
  `.execute(db);
  return rows;
}
