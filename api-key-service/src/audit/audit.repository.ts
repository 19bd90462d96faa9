import type { AuditEventRow, Queryable } from "@gateway/db";
import { actorId } from "../access/scopes.js";
import type { RequestContext } from "../request-context.js";

export interface AuditFilter {
  key_id?: string;
  user_id?: string;
  action?: string;
  actor_id?: string;
}

export interface AuditEntry {
  action: string;
  key_id?: string | null;
  user_id?: string | null;
  management_key_id?: string | null;
  changes: object;
}

/** Records a change with who made it (the request's actor), its request id and client address. */
export async function insertAuditEvent(db: Queryable, ctx: RequestContext, entry: AuditEntry): Promise<void> {
  await db
    .insertInto("audit_events")
    .values({
      action: entry.action,
      key_id: entry.key_id ?? null,
      user_id: entry.user_id ?? null,
      management_key_id: entry.management_key_id ?? null,
      request_id: ctx.requestId,
      client_ip: ctx.clientIp,
      actor_id: actorId(ctx.actor),
      actor: JSON.stringify(ctx.actor),
      changes: JSON.stringify(entry.changes),
    })
    .execute();
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
  if (filter.actor_id) query = query.where("actor_id", "=", filter.actor_id);
  if (beforeId) query = query.where("id", "<", beforeId);
  return query.execute();
}
