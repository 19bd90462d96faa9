import type { Actor, AuditEventRow, Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { decodeCursor, type Page, toPage } from "../pagination.js";
import { type AuditFilter, listAuditEvents } from "./audit.repository.js";

export interface AuditEventView {
  id: string;
  occurred_at: string;
  action: string;
  key_id: string | null;
  user_id: string | null;
  management_key_id: string | null;
  actor: Actor;
  request_id: string | null;
  client_ip: string | null;
  changes: Record<string, unknown>;
}

const toView = (row: AuditEventRow): AuditEventView => ({
  id: String(row.id),
  occurred_at: row.occurred_at.toISOString(),
  action: row.action,
  key_id: row.key_id,
  user_id: row.user_id,
  management_key_id: row.management_key_id,
  actor: row.actor,
  request_id: row.request_id,
  client_ip: row.client_ip,
  changes: row.changes,
});

export class AuditService {
  constructor(private readonly db: Kysely<Database>) {}

  async list(filter: AuditFilter, limit: number, cursor?: string): Promise<Page<AuditEventView>> {
    const before = cursor ? decodeCursor(cursor, ["id"] as const).id : undefined;
    if (before !== undefined && !/^\d{1,18}$/.test(before)) {
      return { data: [], next_cursor: null };
    }
    const rows = await listAuditEvents(this.db, filter, limit + 1, before);
    return toPage(rows, limit, toView, (row) => ({ id: String(row.id) }));
  }
}
