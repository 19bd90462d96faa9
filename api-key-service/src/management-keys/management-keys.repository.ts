import type { ManagementKeyRow, NewManagementKey, Queryable } from "@gateway/db";
import { olderThan } from "../pagination.js";

export async function insertManagementKey(db: Queryable, key: NewManagementKey): Promise<ManagementKeyRow> {
  return db.insertInto("management_keys").values(key).returningAll().executeTakeFirstOrThrow();
}

export async function findManagementKeyById(
  db: Queryable,
  id: string,
  options: { forUpdate?: boolean } = {},
) {
  let query = db.selectFrom("management_keys").selectAll().where("id", "=", id);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

export async function findManagementKeyByHash(db: Queryable, hash: string) {
  return db.selectFrom("management_keys").selectAll().where("key_hash", "=", hash).executeTakeFirst();
}

/** Newest first; `after` is the last row of the previous page. */
export async function listManagementKeys(
  db: Queryable,
  limit: number,
  after?: { created_at: Date; id: string },
) {
  let query = db
    .selectFrom("management_keys")
    .selectAll()
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(limit);
  if (after) {
    query = query.where(olderThan(after));
  }
  return query.execute();
}

export async function revokeManagementKey(db: Queryable, id: string, now: Date): Promise<ManagementKeyRow> {
  return db
    .updateTable("management_keys")
    .set({ revoked_at: now, updated_at: now })
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
