import type { AuditEventRow, NewAuditEvent, Queryable } from "@gateway/db";

export interface AuditFilter {
  key_id?: string;
  user_id?: string;
  action?: string;
}

export async function insertAuditEvent(db: Queryable, event: NewAuditEvent): Promise<void> {
  await db.insertInto("audit_events").values(event).execute();
}

/** Newest first; `beforeId` is the id of the last event of the previous page. */
export async function listAuditEvents(
  db: Queryable,
  filter: AuditFilter,
  limit: number,
  beforeId?: string,
): Promise<AuditEventRow[]> {
  let query = db.selectFrom("audit_events").selectAll().orderBy("id", "desc").limit(limit);
  if (filter.key_id) query = query.where("key_id", "=", filter.key_id);
  if (filter.user_id) query = query.where("user_id", "=", filter.user_id);
  if (filter.action) query = query.where("action", "=", filter.action);
  if (beforeId) query = query.where("id", "<", beforeId);
  return query.execute();
}
