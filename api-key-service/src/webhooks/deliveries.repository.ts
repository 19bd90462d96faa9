import { fromNow, type Queryable } from "@gateway/db";
import { sql } from "kysely";

/** A claimed delivery: what the worker needs to send it, and the attempt number that fences it. */
export interface ClaimedDelivery {
  id: string;
  webhook_id: string;
  event_id: string;
  attempts: number;
  created_at: Date;
  url: string;
  secret: string;
  payload: unknown;
}

/**
 * Claims due deliveries for one attempt: each is leased for `leaseMs` (no other worker takes it
 * meanwhile) and its attempt counted. FOR UPDATE SKIP LOCKED lets several replicas claim at once
 * without waiting on, or taking, each other's rows. One autocommitted statement: no transaction is
 * held while the receiver is called, and a worker killed mid-call leaves a lease that simply expires.
 * Due is by Postgres's clock, the one deliveries are created and rescheduled with: this process's
 * clock, in whole milliseconds and perhaps skewed, left a delivery created in the same millisecond
 * (or up to the skew) for the next pass.
 */
export async function claimDueDeliveries(
  db: Queryable,
  leaseMs: number,
  limit: number,
): Promise<ClaimedDelivery[]> {
  const { rows } = await sql<ClaimedDelivery>`
    update webhook_deliveries d
       set next_attempt_at = ${fromNow(leaseMs)}, attempts = d.attempts + 1, updated_at = now()
      from (select id from webhook_deliveries
             where status = 'pending' and next_attempt_at <= now()
             order by next_attempt_at
             limit ${limit}
               for update skip locked) due,
           webhooks w,
           webhook_events e
     where d.id = due.id and w.id = d.webhook_id and e.id = d.event_id
    returning d.id::text as id, d.webhook_id, d.event_id, d.attempts, d.created_at, w.url, w.secret,
              e.payload
  `.execute(db);
  return rows;
}

/**
 * The outcome of an attempt is recorded only by the worker that claimed it (same attempt number,
 * still pending): a worker whose lease ran out cannot overwrite a later attempt's outcome.
 */
const fenced = (id: string, attempts: number) =>
  sql<boolean>`id = ${id} and attempts = ${attempts} and status = 'pending'`;

export async function markDelivered(
  db: Queryable,
  claim: { id: string; attempts: number },
  statusCode: number,
  now: Date,
): Promise<void> {
  await db
    .updateTable("webhook_deliveries")
    .set({
      status: "delivered",
      delivered_at: now,
      last_status_code: statusCode,
      last_error: null,
      updated_at: now,
    })
    .where(fenced(claim.id, claim.attempts))
    .execute();
}

/** `retryInMs`: when to try again, from Postgres's clock (see claimDueDeliveries); null for never. */
export async function markFailed(
  db: Queryable,
  claim: { id: string; attempts: number },
  outcome: { statusCode: number | null; error: string; retryInMs: number | null },
  now: Date,
): Promise<void> {
  await db
    .updateTable("webhook_deliveries")
    .set({
      // No next attempt: the retry period is over.
      status: outcome.retryInMs === null ? "dead" : "pending",
      next_attempt_at: fromNow(outcome.retryInMs ?? 0),
      last_status_code: outcome.statusCode,
      last_error: outcome.error,
      updated_at: now,
    })
    .where(fenced(claim.id, claim.attempts))
    .execute();
}
