import { type Kysely, sql } from "kysely";

// Frozen. Scoped management keys, the actor of every audit event, and who created each API key.
// Before this, the admin token was the only credential, so it is the actor of everything earlier.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("management_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("key_hash", "text", (c) => c.notNull().unique())
    .addColumn("key_start", "text", (c) => c.notNull())
    .addColumn("scopes", sql`text[]`, (c) => c.notNull())
    .addColumn("user_id", "text")
    .addColumn("expires_at", "timestamptz")
    .addColumn("revoked_at", "timestamptz")
    .addColumn("created_by", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("management_keys_created_idx")
    .on("management_keys")
    .columns(["created_at desc", "id desc"])
    .execute();

  await db.schema
    .alterTable("audit_events")
    .addColumn("actor_id", "text", (c) => c.notNull().defaultTo("admin_token"))
    .addColumn("actor", "jsonb", (c) => c.notNull().defaultTo(sql`'{"type":"admin_token"}'::jsonb`))
    .addColumn("management_key_id", "text")
    .execute();
  await db.schema
    .createIndex("audit_events_actor_idx")
    .on("audit_events")
    .columns(["actor_id", "id desc"])
    .execute();
  await db.schema
    .createIndex("audit_events_action_idx")
    .on("audit_events")
    .columns(["action", "id desc"])
    .execute();

  await db.schema
    .alterTable("api_keys")
    .addColumn("created_by", "jsonb", (c) => c.notNull().defaultTo(sql`'{"type":"admin_token"}'::jsonb`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("api_keys").dropColumn("created_by").execute();
  await db.schema.dropIndex("audit_events_action_idx").execute();
  await db.schema.dropIndex("audit_events_actor_idx").execute();
  await db.schema
    .alterTable("audit_events")
    .dropColumn("management_key_id")
    .dropColumn("actor")
    .dropColumn("actor_id")
    .execute();
  await db.schema.dropTable("management_keys").execute();
}
