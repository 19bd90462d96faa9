import type { Actor, ManagementKeyRow } from "@gateway/db";
import type { Scope } from "../access/scopes.js";

export type ManagementKeyStatus = "active" | "expired" | "revoked";

/** What the API shows of a management key: everything but the secret and its hash. */
export interface ManagementKeyView {
  id: string;
  name: string;
  start: string;
  status: ManagementKeyStatus;
  scopes: Scope[];
  user_id: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  created_by: Actor;
  created_at: string;
  updated_at: string;
}

export function managementKeyStatus(row: ManagementKeyRow, now: Date): ManagementKeyStatus {
  if (row.revoked_at) return "revoked";
  if (row.expires_at && row.expires_at <= now) return "expired";
  return "active";
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toManagementKeyView(row: ManagementKeyRow, now: Date): ManagementKeyView {
  return {
    id: row.id,
    name: row.name,
    start: row.key_start,
    status: managementKeyStatus(row, now),
    scopes: row.scopes as Scope[],
    user_id: row.user_id,
    expires_at: iso(row.expires_at),
    revoked_at: iso(row.revoked_at),
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
