import { type Kysely, sql } from "kysely";

// Frozen: a migration is never edited once released; later changes get a new file.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("users")
    .addColumn("user_id", "text", (c) => c.primaryKey())
    .addColumn("stripe_customer_id", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("api_keys")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("user_id", "text", (c) => c.notNull().references("users.user_id"))
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("key_hash", "text", (c) => c.notNull().unique())
    .addColumn("key_start", "text", (c) => c.notNull())
    .addColumn("previous_key_hash", "text", (c) => c.unique())
    .addColumn("previous_key_expires_at", "timestamptz")
    .addColumn("rotated_at", "timestamptz")
    .addColumn("scopes", sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn("rate_limit_per_minute", "integer")
    .addColumn("rate_limit_per_day", "integer")
    .addColumn("metadata", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn("stripe_customer_id", "text")
    .addColumn("enabled", "boolean", (c) => c.notNull().defaultTo(true))
    .addColumn("expires_at", "timestamptz")
    .addColumn("revoked_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_used_at", "timestamptz")
    .addCheckConstraint("api_keys_rate_limit_per_minute_positive", sql`rate_limit_per_minute > 0`)
    .addCheckConstraint("api_keys_rate_limit_per_day_positive", sql`rate_limit_per_day > 0`)
    .execute();

  await db.schema
    .createIndex("api_keys_user_created_idx")
    .on("api_keys")
    .columns(["user_id", "created_at desc", "id desc"])
    .execute();

  await db.schema
    .createTable("audit_events")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("occurred_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("action", "text", (c) => c.notNull())
    .addColumn("key_id", "text")
    .addColumn("user_id", "text")
    .addColumn("request_id", "text")
    .addColumn("client_ip", "text")
    .addColumn("changes", "jsonb", (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .execute();

  await db.schema
    .createIndex("audit_events_key_idx")
    .on("audit_events")
    .columns(["key_id", "id desc"])
    .execute();
  await db.schema
    .createIndex("audit_events_user_idx")
    .on("audit_events")
    .columns(["user_id", "id desc"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("audit_events").execute();
  await db.schema.dropTable("api_keys").execute();
  await db.schema.dropTable("users").execute();
}
