import { type Kysely, sql } from "kysely";

// Frozen. Indexes for the key search and the user directory, so that no filter reads the whole table.
// Plain CREATE INDEX (not CONCURRENTLY): migrations run in a transaction, and api_keys stays small
// enough that building them holds writes back only briefly.
export async function up(db: Kysely<any>): Promise<void> {
  // Newest first across all users; also serves created_after / created_before and the common statuses.
  await db.schema
    .createIndex("api_keys_created_idx")
    .on("api_keys")
    .columns(["created_at desc", "id desc"])
    .execute();

  // Prefix search: `lower(name) like 'abc%'` and `key_start like 'gw_ab%'`. text_pattern_ops, because the
  // database collation is not "C" and a default btree cannot serve LIKE there.
  await db.schema
    .createIndex("api_keys_name_prefix_idx")
    .on("api_keys")
    .expression(sql`lower(name) text_pattern_ops`)
    .execute();
  await db.schema
    .createIndex("api_keys_key_start_prefix_idx")
    .on("api_keys")
    .expression(sql`key_start text_pattern_ops`)
    .execute();

  // The rare statuses, newest first. "Expired" depends on the time of the query, so it is a range on
  // expires_at instead of a predicate.
  await db.schema
    .createIndex("api_keys_revoked_created_idx")
    .on("api_keys")
    .columns(["created_at desc", "id desc"])
    .where(sql<boolean>`revoked_at is not null`)
    .execute();
  await db.schema
    .createIndex("api_keys_disabled_created_idx")
    .on("api_keys")
    .columns(["created_at desc", "id desc"])
    .where(sql<boolean>`revoked_at is null and not enabled`)
    .execute();
  await db.schema
    .createIndex("api_keys_unrevoked_expiry_idx")
    .on("api_keys")
    .column("expires_at")
    .where(sql<boolean>`revoked_at is null and expires_at is not null`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const name of [
    "api_keys_unrevoked_expiry_idx",
    "api_keys_disabled_created_idx",
    "api_keys_revoked_created_idx",
    "api_keys_key_start_prefix_idx",
    "api_keys_name_prefix_idx",
    "api_keys_created_idx",
  ]) {
    await db.schema.dropIndex(name).execute();
  }
}
