import type { Queryable } from "@gateway/db";
import { sql } from "kysely";
import { newId } from "../ids.js";
import type { WebhookEventInput } from "./event-types.js";

/** An event with its id and the moment it happened, as `enqueueEvents` stores it. */
export interface StampedEvent extends WebhookEventInput {
  id: string;
  occurredAt: Date;
}

/**
 * Records an event and one pending delivery per webhook subscribed to it, in the caller's
 * transaction, so the event exists exactly when the change it reports commits. Returns its id.
 */
export async function enqueueEvent(db: Queryable, event: WebhookEventInput): Promise<string> {
  const id = newId("evt");
  await enqueueEvents(db, [{ ...event, id, occurredAt: new Date() }]);
  return id;
}

/**
 * One statement for a batch. An event nothing subscribes to is not stored. The subscribed webhooks
 * are read FOR KEY SHARE: one deleted meanwhile is skipped rather than failing the caller's
 * transaction on the foreign key, and one being deleted waits for this to commit.
 */
export async function enqueueEvents(db: Queryable, events: StampedEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const input = JSON.stringify(
    events.map((e) => ({
      id: e.id,
      type: e.type,
      user_id: e.data.user_id,
      payload: { type: e.type, timestamp: e.occurredAt.toISOString(), data: e.data },
      created_at: e.occurredAt.toISOString(),
    })),
  );
  const result = await sql`
    with input as (
      select * from jsonb_to_recordset(${input}::jsonb)
        as e(id text, type text, user_id text, payload jsonb, created_at timestamptz)
    ), targets as (
      select w.id as webhook_id, i.id as event_id
        from input i
        join webhooks w on i.type = any (w.events) and (w.user_id is null or w.user_id = i.user_id)
         for key share of w
    ), stored as (
      insert into webhook_events (id, type, user_id, payload, created_at)
      select i.id, i.type, i.user_id, i.payload, i.created_at
        from input i
       where i.id in (select event_id from targets)
      returning id
    )
    insert into webhook_deliveries (webhook_id, event_id)
    select t.webhook_id, t.event_id from targets t join stored s on s.id = t.event_id
    on conflict (webhook_id, event_id) do nothing
  `.execute(db);
  return Number(result.numAffectedRows ?? 0);
}
