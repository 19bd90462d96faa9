import type { Actor, ApiKeyRow } from "@gateway/db";

export type KeyStatus = "active" | "disabled" | "expired" | "revoked";

/** What the API shows of a key: everything but the secret and its hashes. */
export interface KeyView {
  id: string;
  user_id: string;
  name: string;
  start: string;
  status: KeyStatus;
  enabled: boolean;
  scopes: string[];
  rate_limit_per_minute: number | null;
  rate_limit_per_day: number | null;
  metadata: Record<string, unknown>;
  stripe_customer_id: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  rotated_at: string | null;
  previous_key_expires_at: string | null;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
  created_by: Actor;
}

export function keyStatus(row: ApiKeyRow, now: Date): KeyStatus {
  if (row.revoked_at) return "revoked";
  if (row.expires_at && row.expires_at <= now) return "expired";
  if (!row.enabled) return "disabled";
  return "active";
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toKeyView(row: ApiKeyRow, now: Date): KeyView {
  const graceOver = !row.previous_key_expires_at || row.previous_key_expires_at <= now;
  return {
    id: row.id,
    user_id: row.user_id,
    name: row.name,
    start: row.key_start,
    status: keyStatus(row, now),
    enabled: row.enabled,
    scopes: row.scopes,
    rate_limit_per_minute: row.rate_limit_per_minute,
    rate_limit_per_day: row.rate_limit_per_day,
    metadata: row.metadata,
    stripe_customer_id: row.stripe_customer_id,
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
    rotated_at: iso(row.rotated_at),
    previous_key_expires_at: graceOver ? null : iso(row.previous_key_expires_at),
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    last_used_at: iso(row.last_used_at),
    created_by: row.created_by,
  };
}
