import type { ApiKeyRow, ApiKeyUpdate, NewApiKey, Queryable } from "@gateway/db";
import { olderThan } from "../pagination.js";

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
    query = query.where(olderThan(after));
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

/** A key as the check path needs it: the key, its user's billing fields and its user's plan. */
function checkPathKeys(db: Queryable) {
  return db
    .selectFrom("api_keys as k")
    .innerJoin("users as u", "u.user_id", "k.user_id")
    .leftJoin("plans as p", "p.id", "u.plan_id")
    .select([
      "p.id as plan_id",
      "p.rate_limit_per_minute as plan_rate_limit_per_minute",
      "p.rate_limit_per_day as plan_rate_limit_per_day",
      "p.monthly_quota as plan_monthly_quota",
      "p.overage as plan_overage",
      "p.alert_thresholds as plan_alert_thresholds",
      "u.billing_cycle_anchor",
      "u.suspended_at",
      "k.id",
      "k.user_id",
      "k.key_hash",
      "k.previous_key_hash",
      "k.previous_key_expires_at",
      "k.scopes",
      "k.rate_limit_per_minute",
      "k.rate_limit_per_day",
      "k.stripe_customer_id",
      "u.stripe_customer_id as user_stripe_customer_id",
      "k.enabled",
      "k.expires_at",
      "k.revoked_at",
    ]);
}

export type CheckPathKeyRow = Awaited<ReturnType<typeof findKeysByHashes>>[number];

/**
 * The keys whose current or rotated-out secret has one of these hashes, with their users' billing
 * customers, plans and billing-cycle anchors: one query for a whole batch of cache misses (both columns are unique and indexed).
 */
export async function findKeysByHashes(db: Queryable, hashes: string[]) {
  return checkPathKeys(db)
    .where((eb) =>
      eb.or([
        eb("k.key_hash", "=", eb.fn.any(eb.val(hashes))),
        eb("k.previous_key_hash", "=", eb.fn.any(eb.val(hashes))),
      ]),
    )
    .execute();
}

/** The keys used since `since`, most recently used first, at most `limit`: what a starting replica caches. */
export async function recentlyUsedKeys(db: Queryable, since: Date, limit: number) {
  return checkPathKeys(db)
    .where("k.last_used_at", ">=", since)
    .orderBy("k.last_used_at", "desc")
    .limit(limit)
    .execute();
}
