import { createHash } from "node:crypto";
import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

const DAY_MS = 86_400_000;
/** Stripe refuses meter events timestamped more than 35 days before it receives them. */
export const STRIPE_MAX_EVENT_AGE_MS = 35 * DAY_MS;
/** A backfilled event must still be inside that window when it is sent, after any back-off. */
export const BACKFILL_SEND_MARGIN_MS = 60 * 60_000;

export interface BackfillWindow {
  eventName: string;
  windowMs: number;
  /** The current time: what Stripe's 35-day window is measured from. */
  now: Date;
  /** Only windows that end at or before this are considered (closed, settled windows). */
  until: Date;
}

export interface BackfillResult {
  /** Usage rows settled: their customerless units enqueued or found unbillable. */
  rows: number;
  events: number;
  /** Units enqueued for Stripe. */
  units: number;
  /** Units too old for Stripe when their customer was found. */
  unbillableUnits: number;
}

const meterTag = (eventName: string) => createHash("sha256").update(eventName).digest("hex").slice(0, 8);

/**
 * Bills usage that was recorded without a Stripe customer once its key or user has one. Each usage
 * row of the last 35 days still holding customerless units is settled: the units are added to
 * `backfilled_units` when their window can still go to Stripe, or to `unbillable_units` when it
 * cannot, and per customer and window the backfilled units become one outbox event of kind
 * `backfill`, identified `bf:<meter tag>:<customer>:<window start>:<sequence>` (at most 100
 * characters for any valid customer id; distinct from the per-window identifiers). Marking and
 * enqueueing are one statement, so usage is enqueued exactly once: a restart finds the rows settled,
 * and an identifier already taken fails the statement and leaves the rows as they were. Usage that
 * arrives later for a settled row unsettles it again (usage.repository.ts), and goes out as a
 * further event with the next sequence number.
 */
export async function enqueueBackfills(db: Queryable, w: BackfillWindow): Promise<BackfillResult> {
  const bin = sql`${w.windowMs} * interval '1 millisecond'`;
  const since = new Date(w.now.getTime() - STRIPE_MAX_EVENT_AGE_MS);
  const sendableFrom = new Date(since.getTime() + BACKFILL_SEND_MARGIN_MS);
  // The row locks (for update) keep the usage writer from adding units between reading and marking.
  const { rows } = await sql<{ rows: string; events: string; units: string; unbillable: string }>`
    with candidates as (
      select m.key_id, m.minute, coalesce(k.stripe_customer_id, u.stripe_customer_id) as customer,
             date_bin(${bin}, m.minute, timestamptz 'epoch') as window_start,
             m.billable_units - m.backfilled_units - m.unbillable_units as units
        from usage_minutes m
        left join api_keys k on k.id = m.key_id
        join users u on u.user_id = coalesce(k.user_id, m.user_id)
       where m.stripe_customer_id is null and m.backfilled_at is null
         and m.minute >= ${since} and m.minute < ${w.until}
         and date_bin(${bin}, m.minute, timestamptz 'epoch') + ${bin} <= ${w.until}
         and coalesce(k.stripe_customer_id, u.stripe_customer_id) is not null
         for update of m
    ), settled as (
      update usage_minutes m
         set backfilled_units = m.backfilled_units
               + case when c.window_start >= ${sendableFrom} then c.units else 0 end,
             unbillable_units = m.unbillable_units
               + case when c.window_start < ${sendableFrom} then c.units else 0 end,
             backfill_customer_id = c.customer,
             backfilled_at = now()
        from candidates c
       where m.key_id = c.key_id and m.minute = c.minute
      returning m.key_id
    ), windows as (
      select customer, window_start, sum(units) as units
        from candidates
       where window_start >= ${sendableFrom}
       group by 1, 2
      having sum(units) > 0
    ), earlier as (
      select o.stripe_customer_id as customer, o.window_start, count(*) as events
        from stripe_outbox o join windows w on w.customer = o.stripe_customer_id and w.window_start = o.window_start
       where o.kind = 'backfill' and o.event_name = ${w.eventName}
       group by 1, 2
    ), enqueued as (
      insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, kind)
      select 'bf:' || ${meterTag(w.eventName)} || ':' || w.customer || ':'
               || extract(epoch from w.window_start)::bigint || ':' || coalesce(e.events, 0),
             w.customer, ${w.eventName}, w.window_start, w.units, 'backfill'
        from windows w left join earlier e using (customer, window_start)
       order by w.window_start, w.customer
      returning value
    )
    select (select count(*) from settled)::text as rows,
           (select count(*) from enqueued)::text as events,
           (select coalesce(sum(value), 0) from enqueued)::text as units,
           (select coalesce(sum(units), 0) from candidates where window_start < ${sendableFrom})::text as unbillable
  `.execute(db);
  const row = rows[0];
  return {
    rows: Number(row?.rows ?? 0),
    events: Number(row?.events ?? 0),
    units: Number(row?.units ?? 0),
    unbillableUnits: Number(row?.unbillable ?? 0),
  };
}
