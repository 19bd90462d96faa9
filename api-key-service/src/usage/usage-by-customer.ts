import type { Queryable } from "@gateway/db";
import { sql } from "kysely";
import {
  type Granularity,
  type StripeDayRow,
  stripeCutoff,
  type UsageRow,
  usageWindowsSql,
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
  const billed = sql`stripe_customer_id = ${q.stripeCustomerId} and minute >= ${q.from} and minute < ${q.to}`;
  // `= any(array(...))` rather than `in (select ...)`: the planner cannot tell how few keys a customer
  // has from the many minutes they billed, and with a join would rather scan all of authz_counts than
  // probe its primary key once per key.
  return usageWindowsSql(
    {
      ...q,
      checkedKeys: sql`key_id = any(array(select distinct key_id from usage_minutes where ${billed}))`,
      served: billed,
    },
    billableSince,
  );
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
