import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

/** The one row of checks_cursor the checks source keeps its place in. */
const SOURCE = "checks";

export interface ChecksCursor {
  /** Minutes from this one on are billed from checks. */
  billFrom: Date;
  /** Every authz_counts row updated before this (less the scan margin) has been taken. */
  scannedTo: Date;
}

/**
 * Creates the cursor on the first pass ever (billing from `billFrom`) and locks it for this
 * transaction. Undefined when another replica holds it: one replica takes at a time, the others
 * skip their pass rather than wait.
 */
export async function lockCursor(trx: Queryable, billFrom: Date): Promise<ChecksCursor | undefined> {
  await trx
    .insertInto("checks_cursor")
    .values({ source: SOURCE, bill_from: billFrom, scanned_to: billFrom })
    .onConflict((oc) => oc.column("source").doNothing())
    .execute();
  const row = await trx
    .selectFrom("checks_cursor")
    .select(["bill_from", "scanned_to"])
    .where("source", "=", SOURCE)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  return row ? { billFrom: row.bill_from, scannedTo: row.scanned_to } : undefined;
}

/**
 * Moves the cursor forward, never back, to `scannedTo` or Postgres's now(), whichever is earlier: a
 * row not yet written will have an updated_at from Postgres's clock, whatever the sidecar's says.
 * Returns where it is.
 */
export async function advanceCursor(trx: Queryable, scannedTo: Date): Promise<Date> {
  const row = await trx
    .updateTable("checks_cursor")
    .set({
      scanned_to: sql`greatest(scanned_to, least(${scannedTo}::timestamptz, now()))`,
      updated_at: sql`now()`,
    })
    .where("source", "=", SOURCE)
    .returning("scanned_to")
    .executeTakeFirstOrThrow();
  return row.scanned_to;
}

export interface TakeRange {
  /** Only authz_counts rows updated at or after this are looked at. */
  updatedFrom: Date;
  billFrom: Date;
  /** Only minutes that end at or before this are taken (settled: every replica has flushed them). */
  settledAt: Date;
  limit: number;
}

export interface Taken {
  /** Usage rows created or raised. */
  rows: number;
  /** Units added to them, as read before the statement (a concurrent taker may have added some). */
  units: number;
  /** Of those, units recorded without a Stripe customer. */
  unbilledUnits: number;
}

/**
 * Raises each settled minute's usage row to what api-key-service counted for it: requests and
 * billable requests to `allowed`, billable units to `allowed_units`. The row is set to the count,
 * never added to, so taking a minute again (a retry after a lost commit, a second replica, a late
 * flush that grew the count) adds exactly what is new: the usage row itself records what was taken.
 * The user and Stripe customer are the key's at the time of taking (its own customer, else its
 * user's); a row keeps the customer it was first billed to, so a late difference cannot bill the
 * whole minute to a new one. New units without a customer unsettle a backfilled row, as the access
 * log's writes do (usage.repository.ts), so the backfill bills them.
 */
export async function takeSettledCounts(db: Queryable, range: TakeRange): Promise<Taken> {
  const { rows } = await sql<{ rows: string; units: string; unbilled: string }>`
    with counts as (
      select c.key_id, c.minute, c.allowed, c.allowed_units, k.user_id,
             coalesce(k.stripe_customer_id, u.stripe_customer_id) as customer,
             greatest(c.allowed_units - coalesce(m.billable_units, 0), 0) as new_units,
             coalesce(m.stripe_customer_id, k.stripe_customer_id, u.stripe_customer_id) as billed_to
        from authz_counts c
        join api_keys k on k.id = c.key_id
        join users u on u.user_id = k.user_id
        left join usage_minutes m on m.key_id = c.key_id and m.minute = c.minute
       where c.updated_at >= ${range.updatedFrom}
         and c.minute >= ${range.billFrom}
         and c.minute + interval '1 minute' <= ${range.settledAt}
         and c.allowed > 0
         and (m.key_id is null or c.allowed > m.requests or c.allowed_units > m.billable_units)
       order by c.updated_at
       limit ${range.limit}
    ), raised as (
      insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                 billable_units)
      select key_id, minute, user_id, customer, allowed, allowed, allowed_units from counts
      on conflict (key_id, minute) do update set
        stripe_customer_id = coalesce(usage_minutes.stripe_customer_id, excluded.stripe_customer_id),
        requests = greatest(usage_minutes.requests, excluded.requests),
        billable_requests = greatest(usage_minutes.billable_requests, excluded.billable_requests),
        billable_units = greatest(usage_minutes.billable_units, excluded.billable_units),
        backfilled_at = case when usage_minutes.stripe_customer_id is null and excluded.stripe_customer_id is null
                                  and excluded.billable_units > usage_minutes.billable_units
                             then null else usage_minutes.backfilled_at end,
        updated_at = now()
      returning 1
    )
    select (select count(*) from raised)::text as rows,
           (select coalesce(sum(new_units), 0) from counts)::text as units,
           (select coalesce(sum(new_units), 0) from counts where billed_to is null)::text as unbilled
  `.execute(db);
  const row = rows[0];
  return {
    rows: Number(row?.rows ?? 0),
    units: Number(row?.units ?? 0),
    unbilledUnits: Number(row?.unbilled ?? 0),
  };
}
