import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

export interface Rollup {
  keyId: string;
  minuteMs: number;
  userId: string;
  stripeCustomerId: string | null;
  requests: number;
  billable: number;
  /** The units of the billable requests: what Stripe is sent. */
  billableUnits: number;
  bytesIn: number;
  bytesOut: number;
  status2xx: number;
  status3xx: number;
  status4xx: number;
  status5xx: number;
}

/**
 * Writes one batch of rollups exactly once: the batch id is recorded in the same transaction, so a
 * retry after an unclear failure (the commit may or may not have happened) adds nothing the second
 * time. Returns false when the batch had already been written.
 */
export async function writeBatch(
  db: Queryable,
  batchId: string,
  rollups: Rollup[],
  entries: number,
): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    const claimed = await trx
      .insertInto("usage_batches")
      .values({ batch_id: batchId, entries })
      .onConflict((oc) => oc.column("batch_id").doNothing())
      .returning("batch_id")
      .executeTakeFirst();
    if (!claimed) return false;
    // Whole columns as arrays (unnest): thousands of rows stay thirteen parameters, cheap to build.
    const column = <T>(pick: (r: Rollup) => T) => rollups.map(pick);
    await sql`
      insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                 billable_units, bytes_in, bytes_out, status_2xx, status_3xx, status_4xx, status_5xx)
      select * from unnest(
        ${column((r) => r.keyId)}::text[], ${column((r) => new Date(r.minuteMs).toISOString())}::timestamptz[],
        ${column((r) => r.userId)}::text[], ${column((r) => r.stripeCustomerId)}::text[],
        ${column((r) => r.requests)}::bigint[], ${column((r) => r.billable)}::bigint[],
        ${column((r) => r.billableUnits)}::bigint[],
        ${column((r) => r.bytesIn)}::bigint[], ${column((r) => r.bytesOut)}::bigint[],
        ${column((r) => r.status2xx)}::bigint[], ${column((r) => r.status3xx)}::bigint[],
        ${column((r) => r.status4xx)}::bigint[], ${column((r) => r.status5xx)}::bigint[])
      on conflict (key_id, minute) do update set
        stripe_customer_id = coalesce(excluded.stripe_customer_id, usage_minutes.stripe_customer_id),
        requests = usage_minutes.requests + excluded.requests,
        billable_requests = usage_minutes.billable_requests + excluded.billable_requests,
        billable_units = usage_minutes.billable_units + excluded.billable_units,
        bytes_in = usage_minutes.bytes_in + excluded.bytes_in,
        bytes_out = usage_minutes.bytes_out + excluded.bytes_out,
        status_2xx = usage_minutes.status_2xx + excluded.status_2xx,
        status_3xx = usage_minutes.status_3xx + excluded.status_3xx,
        status_4xx = usage_minutes.status_4xx + excluded.status_4xx,
        status_5xx = usage_minutes.status_5xx + excluded.status_5xx,
        -- Billable units without a customer on a row a backfill settled: owed again (backfill.repository.ts).
        backfilled_at = case when excluded.stripe_customer_id is null and excluded.billable_units > 0
                             then null else usage_minutes.backfilled_at end,
        updated_at = now()
    `.execute(trx);
    return true;
  });
}
