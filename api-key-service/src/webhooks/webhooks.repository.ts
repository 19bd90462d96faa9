import type { DeliveryStatus, NewWebhook, Queryable, WebhookRow } from "@gateway/db";
import { olderThan } from "../pagination.js";

export async function insertWebhook(db: Queryable, webhook: NewWebhook): Promise<WebhookRow> {
  return db.insertInto("webhooks").values(webhook).returningAll().executeTakeFirstOrThrow();
}

export async function findWebhookById(db: Queryable, id: string): Promise<WebhookRow | undefined> {
  return db.selectFrom("webhooks").selectAll().where("id", "=", id).executeTakeFirst();
}

/** Newest first; `after` is the last row of the previous page. */
export async function listWebhooks(
  db: Queryable,
  filter: { user_id?: string },
  limit: number,
  after?: { created_at: Date; id: string },
): Promise<WebhookRow[]> {
  let query = db
    .selectFrom("webhooks")
    .selectAll()
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(limit);
  if (filter.user_id !== undefined) query = query.where("user_id", "=", filter.user_id);
  if (after) {
    query = query.where(olderThan(after));
  }
  return query.execute();
}

/** Its deliveries go with it (on delete cascade): nothing more is sent to it. */
export async function deleteWebhook(db: Queryable, id: string): Promise<WebhookRow | undefined> {
  return db.deleteFrom("webhooks").where("id", "=", id).returningAll().executeTakeFirst();
}

export interface DeliveryListRow {
  id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  last_status_code: number | null;
  next_attempt_at: Date;
  delivered_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

/** A webhook's deliveries, newest first; `beforeId` is the last id of the previous page. */
export async function listDeliveries(
  db: Queryable,
  webhookId: string,
  filter: { status?: DeliveryStatus },
  limit: number,
  beforeId?: string,
): Promise<DeliveryListRow[]> {
  let query = db
    .selectFrom("webhook_deliveries as d")
    .innerJoin("webhook_events as e", "e.id", "d.event_id")
    .select([
      "d.id",
      "d.event_id",
      "e.type as event_type",
      "d.status",
      "d.attempts",
      "d.last_error",
      "d.last_status_code",
      "d.next_attempt_at",
      "d.delivered_at",
      "d.created_at",
      "d.updated_at",
    ])
    .where("d.webhook_id", "=", webhookId)
    .orderBy("d.id", "desc")
    .limit(limit);
  if (filter.status) query = query.where("d.status", "=", filter.status);
  if (beforeId !== undefined) query = query.where("d.id", "<", beforeId);
  return query.execute();
}
