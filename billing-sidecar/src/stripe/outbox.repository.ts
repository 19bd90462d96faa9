import { createHash } from "node:crypto";
import { fromNow, type Queryable } from "@gateway/db";
import { sql } from "kysely";

export interface EnqueueWindow {
  eventName: string;
  windowMs: number;
  /** Only windows that start at or after this are considered. */
  since: Date;
  /** Only windows that end at or before this are considered (closed, settled windows). */
  until: Date;
}

/** Short and stable per meter, so identifiers stay under Stripe's 100 characters. */
const meterTag = (eventName: string) => createHash("sha256").update(eventName).digest("hex").slice(0, 8);

/**
 * For every customer and closed window, enqueues one meter event for the billable units not yet
 * enqueued: the whole window the first time, the difference when usage arrives late. Units, not
 * requests, because a route can cost more than one (rows from before costs hold units = requests,
 * so windows already enqueued as requests continue without a jump). Identifiers are deterministic
 * (meter, customer, window, sequence), so a retry or a second replica cannot create a second event
 * for the same usage: the unique identifier stops it. Units a backfill already settled while the row
 * had no customer (backfill.repository.ts) are left out on both sides: the row's own units minus
 * them, against the per-window events only. Returns how many were enqueued.
 */
export async function enqueueDifferences(db: Queryable, w: EnqueueWindow): Promise<number> {
  const tag = meterTag(w.eventName);
  const result = await sql`
    with usage as (
      select stripe_customer_id,
             date_bin(${w.windowMs} * interval '1 millisecond', minute, timestamptz 'epoch') as window_start,
             sum(billable_units - backfilled_units - unbillable_units) as total
        from usage_minutes
       where stripe_customer_id is not null and minute >= ${w.since} and minute < ${w.until}
       group by 1, 2
    ), enqueued as (
      select stripe_customer_id, window_start, sum(value) as total, count(*) as events
        from stripe_outbox
       where event_name = ${w.eventName} and kind = 'usage' and window_start >= ${w.since}
       group by 1, 2
    )
    insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value)
    select ${tag} || ':' || u.stripe_customer_id || ':' || extract(epoch from u.window_start)::bigint
             || ':' || coalesce(e.events, 0),
           u.stripe_customer_id, ${w.eventName}, u.window_start, u.total - coalesce(e.total, 0)
      from usage u left join enqueued e using (stripe_customer_id, window_start)
     where u.total > coalesce(e.total, 0)
       and u.window_start + ${w.windowMs} * interval '1 millisecond' <= ${w.until}
    on conflict (identifier) do nothing
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export interface OutboxEvent {
  id: string;
  identifier: string;
  stripe_customer_id: string;
  event_name: string;
  window_start: Date;
  value: string;
  attempts: number;
}

/**
 * Pending events that are due, leaving out customers that are backing off after a 429 or an error.
 * Due is by Postgres's clock, the one that stamped the rows: a time from this process, in whole
 * milliseconds, can still be before an event enqueued a moment ago (microseconds), which would then
 * wait for the next pass; and the two clocks need not agree.
 */
export async function dueEvents(db: Queryable, limit: number): Promise<OutboxEvent[]> {
  const now = sql<Date>`now()`;
  return db
    .selectFrom("stripe_outbox as o")
    .select([
      "o.id",
      "o.identifier",
      "o.stripe_customer_id",
      "o.event_name",
      "o.window_start",
      "o.value",
      "o.attempts",
    ])
    .where("o.status", "=", "pending")
    .where("o.next_attempt_at", "<=", now)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom("stripe_outbox as w")
            .select("w.id")
            .whereRef("w.stripe_customer_id", "=", "o.stripe_customer_id")
            .whereRef("w.event_name", "=", "o.event_name")
            .where("w.status", "=", "pending")
            .where("w.next_attempt_at", ">", now),
        ),
      ),
    )
    .orderBy("o.id")
    .limit(limit)
    .execute();
}

export async function markSent(db: Queryable, id: string, note: string | null): Promise<void> {
  await db
    .updateTable("stripe_outbox")
    .set({ status: "sent", sent_at: new Date(), last_error: note, attempts: sql`attempts + 1` })
    .where("id", "=", id)
    .execute();
}

/** The next attempt is `delayMs` from now by Postgres's clock, the clock dueEvents reads. */
export async function markRetry(db: Queryable, id: string, delayMs: number, reason: string): Promise<void> {
  await db
    .updateTable("stripe_outbox")
    .set({
      next_attempt_at: fromNow(delayMs),
      last_error: reason,
      attempts: sql`attempts + 1`,
    })
    .where("id", "=", id)
    .execute();
}

export async function markDead(db: Queryable, id: string, reason: string): Promise<void> {
  await db
    .updateTable("stripe_outbox")
    .set({ status: "dead", last_error: reason, attempts: sql`attempts + 1` })
    .where("id", "=", id)
    .execute();
}
