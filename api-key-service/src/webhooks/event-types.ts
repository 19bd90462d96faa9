import type { ApiKeyRow, WebhookEventType } from "@gateway/db";
import { toKeyView } from "../keys/key-view.js";

/** What a webhook may subscribe to. */
export const WEBHOOK_EVENT_TYPES = [
  "key.created",
  "key.rotated",
  "key.revoked",
  "quota.threshold",
] as const satisfies readonly WebhookEventType[];

/** An event to send: `data` names the user it concerns, so a user-bound webhook gets only its own. */
export interface WebhookEventInput {
  type: WebhookEventType;
  data: { user_id: string } & Record<string, unknown>;
}

/**
 * A key's lifecycle event data: what tells a receiver which key changed and how. Never the secret or
 * its hashes; no metadata either, which the key's owner may have filled with anything.
 */
export function keyEventData(row: ApiKeyRow, now: Date) {
  const view = toKeyView(row, now);
  return {
    key_id: view.id,
    user_id: view.user_id,
    name: view.name,
    start: view.start,
    status: view.status,
    expires_at: view.expires_at,
    revoked_at: view.revoked_at,
    rotated_at: view.rotated_at,
    previous_key_expires_at: view.previous_key_expires_at,
    created_at: view.created_at,
    updated_at: view.updated_at,
  };
}
