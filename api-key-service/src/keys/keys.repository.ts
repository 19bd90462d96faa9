import type { ApiKeyRow, ApiKeyUpdate, NewApiKey, Queryable } from "@gateway/db";

export interface KeyPosition {
  created_at: Date;
  id: string;
}

export async function insertKey(db: Queryable, key: NewApiKey): Promise<ApiKeyRow> {
  return db.insertInto("api_keys").values(key).returningAll().executeTakeFirstOrThrow();
}

export async function findKeyById(db: Queryable, id: string, options: { forUpdate?: boolean } = {}) {
  let query = db.selectFrom("api_keys").selectAll().where("id", "=", id);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** Newest first; `after` is the last row of the previous page. */
export async function listKeysByUser(db: Queryable, userId: string, limit: number, after?: KeyPosition) {
  let query = db
    .selectFrom("api_keys")
    .selectAll()
    .where("user_id", "=", userId)
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(limit);
  if (after) {
    query = query.where((eb) =>
      eb.or([
        eb("created_at", "<", after.created_at),
        eb.and([eb("created_at", "=", after.created_at), eb("id", "<", after.id)]),
      ]),
    );
  }
  return query.execute();
}

export async function updateKey(db: Queryable, id: string, changes: ApiKeyUpdate): Promise<ApiKeyRow> {
  return db
    .updateTable("api_keys")
    .set(changes)
    .where("id", "=", id)
    .returningAll()
    .executeTakeFirstOrThrow();
}
