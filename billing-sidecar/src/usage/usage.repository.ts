import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

export interface Rollup {
  keyId: string;
  minuteMs: number;
  userId: string;
  stripeCustomerId: string | null;
  requests: number;
  billable: number;
  bytesIn: number;
  bytesOut: number;
  status2xx: number;
  status3xx: number;
  status4xx: number;
  status5xx: number;
}

const CHUNK = 1_000;

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
    for (let i = 0; i < rollups.length; i += CHUNK) {
      await trx
        .insertInto("usage_minutes")
        .values(
          rollups.slice(i, i + CHUNK).map((r) => ({
            key_id: r.keyId,
            minute: new Date(r.minuteMs),
            user_id: r.userId,
            stripe_customer_id: r.stripeCustomerId,
            requests: r.requests,
            billable_requests: r.billable,
            bytes_in: r.bytesIn,
            bytes_out: r.bytesOut,
            status_2xx: r.status2xx,
            status_3xx: r.status3xx,
            status_4xx: r.status4xx,
            status_5xx: r.status5xx,
          })),
        )
        .onConflict((oc) =>
          oc.columns(["key_id", "minute"]).doUpdateSet({
            stripe_customer_id: sql`coalesce(excluded.stripe_customer_id, usage_minutes.stripe_customer_id)`,
            requests: sql`usage_minutes.requests + excluded.requests`,
            billable_requests: sql`usage_minutes.billable_requests + excluded.billable_requests`,
            bytes_in: sql`usage_minutes.bytes_in + excluded.bytes_in`,
            bytes_out: sql`usage_minutes.bytes_out + excluded.bytes_out`,
            status_2xx: sql`usage_minutes.status_2xx + excluded.status_2xx`,
            status_3xx: sql`usage_minutes.status_3xx + excluded.status_3xx`,
            status_4xx: sql`usage_minutes.status_4xx + excluded.status_4xx`,
            status_5xx: sql`usage_minutes.status_5xx + excluded.status_5xx`,
            updated_at: sql`now()`,
          }),
        )
        .execute();
    }
    return true;
  });
}
