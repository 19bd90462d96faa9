import type { Queryable } from "@gateway/db";
import { sql } from "kysely";
import {
  type Granularity,
  type StripeDayRow,
  stripeCutoff,
  type UsageRow,
  unbilledColumns,
  unbilledSums,
} from "./usage.repository.js";

export interface CustomerUsageQuery {
  stripeCustomerId: string;
  from: Date;
  to: Date;
  granularity: Granularity;
}

/**
 * The SQL of `usageByCustomer`, exported so tests can EXPLAIN it. Served usage is what the access log
 * billed to the customer (usage_minutes.stripe_customer_id), so a key that moved between customers
 * shows only its share here. authz_counts carry no customer: they are taken for the keys billed to
 * the customer in the period, for the whole period. Usage recorded without a customer and billed to
 * this one by a backfill is not among these rows (it shows under its user or key), but its events are
 * in the customer's Stripe days.
 */
export function usageByCustomerSql(q: CustomerUsageQuery, billableSince = stripeCutoff(new Date())) {
  const bucket = (column: string) => sql`date_trunc(${q.granularity}, ${sql.ref(column)}, 'UTC')`;
  const billed = sql`stripe_customer_id = ${q.stripeCustomerId} and minute >= ${q.from} and minute < ${q.to}`;
  // `= any(array(...))` rather than `in (select ...)`: the planner cannot tell how few keys a customer
  // has from the many minutes they billed, and with a join would rather scan all of authz_counts than
  // probe its primary key once per key.
  return sql<UsageRow>`
    with authz as (
      select key_id, ${bucket("minute")} as window_start, sum(allowed) as allowed, sum(denied) as denied
        from authz_counts
       where key_id = any(array(select distinct key_id from usage_minutes where ${billed}))
         and minute >= ${q.from} and minute < ${q.to}
       group by 1, 2
    ), served as (
      select key_id, ${bucket("minute")} as window_start, sum(requests) as requests,
             sum(billable_requests) as billable_requests, sum(billable_units) as billable_units,
             sum(bytes_in) as bytes_in, sum(bytes_out) as bytes_out,
             sum(status_2xx) as status_2xx, sum(status_3xx) as status_3xx,
             sum(status_4xx) as status_4xx, sum(status_5xx) as status_5xx, ${unbilledSums(billableSince)}
        from usage_minutes
       where ${billed}
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

/** Per key and window, the rows `usageByWindow` returns, for the keys billed to one Stripe customer. */
export async function usageByCustomer(
  db: Queryable,
  q: CustomerUsageQuery,
  billableSince = stripeCutoff(new Date()),
): Promise<UsageRow[]> {
  const { rows } = await usageByCustomerSql(q, billableSince).execute(db);
  return rows;
}

/** What the outbox holds per day for this customer: `stripeByDay`'s rows for one customer. */
export async function stripeByDayForCustomer(db: Queryable, q: CustomerUsageQuery): Promise<StripeDayRow[]> {
  const { rows } = await sql<StripeDayRow>`
    select stripe_customer_id, date_trunc('day', window_start, 'UTC') as day,
           coalesce(sum(value) filter (where status = 'sent'), 0)::text as sent,
           coalesce(sum(value) filter (where status = 'pending'), 0)::text as pending,
           coalesce(sum(value) filter (where status = 'dead'), 0)::text as dead
      from stripe_outbox
     where stripe_customer_id = ${q.stripeCustomerId} and window_start >= ${q.from} and window_start < ${q.to}
     group by 1, 2
     order by 2, 1
  `.execute(db);
  return rows;
}
