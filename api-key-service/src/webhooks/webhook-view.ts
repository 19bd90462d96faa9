import type { Actor, DeliveryStatus, WebhookEventType, WebhookRow } from "@gateway/db";
import type { DeliveryListRow } from "./webhooks.repository.js";

/** What the API shows of a webhook: everything but the signing secret. */
export interface WebhookView {
  id: string;
  url: string;
  events: WebhookEventType[];
  user_id: string | null;
  created_by: Actor;
  created_at: string;
  updated_at: string;
}

export interface DeliveryView {
  id: string;
  event_id: string;
  event_type: string;
  status: DeliveryStatus;
  attempts: number;
  last_error: string | null;
  last_status_code: number | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
}

export function toWebhookView(row: WebhookRow): WebhookView {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    user_id: row.user_id,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

export function toDeliveryView(row: DeliveryListRow): DeliveryView {
  return {
    id: String(row.id),
    event_id: row.event_id,
    event_type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    last_error: row.last_error,
    last_status_code: row.last_status_code,
    // Only a pending delivery has a next attempt.
    next_attempt_at: row.status === "pending" ? row.next_attempt_at.toISOString() : null,
    delivered_at: row.delivered_at ? row.delivered_at.toISOString() : null,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
