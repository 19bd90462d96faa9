import { type Kysely, sql } from "kysely";

// Frozen. Webhooks (Standard Webhooks), the events they are sent and an outbox of deliveries, one row
// per (webhook, event); quota threshold crossings kept once per user, billing period and threshold.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("webhooks")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("url", "text", (c) => c.notNull())
    .addColumn("events", sql`text[]`, (c) => c.notNull())
    // The signing secret itself: an HMAC key must be kept to sign with (a hash would not do).
    .addColumn("secret", "text", (c) => c.notNull())
    // Set: only this user's events are sent to it.
    .addColumn("user_id", "text")
    .addColumn("created_by", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex("webhooks_created_idx")
    .on("webhooks")
    .columns(["created_at desc", "id desc"])
    .execute();

  await db.schema
    .createTable("webhook_events")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("type", "text", (c) => c.notNull())
    .addColumn("user_id", "text")
    .addColumn("payload", "jsonb", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("webhook_deliveries")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("webhook_id", "text", (c) => c.notNull().references("webhooks.id").onDelete("cascade"))
    .addColumn("event_id", "text", (c) => c.notNull().references("webhook_events.id").onDelete("cascade"))
    .addColumn("status", "text", (c) => c.notNull().defaultTo("pending"))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_error", "text")
    .addColumn("last_status_code", "integer")
    .addColumn("delivered_at", "timestamptz")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint("webhook_deliveries_webhook_event_key", ["webhook_id", "event_id"])
    .addCheckConstraint("webhook_deliveries_status", sql`status in ('pending', 'delivered', 'dead')`)
    .execute();
  // What the worker claims: only pending rows are indexed, so delivered history costs it nothing.
  await sql`create index webhook_deliveries_due_idx on webhook_deliveries (next_attempt_at)
            where status = 'pending'`.execute(db);
  await db.schema
    .createIndex("webhook_deliveries_webhook_idx")
    .on("webhook_deliveries")
    .columns(["webhook_id", "id desc"])
    .execute();
  await db.schema
    .createIndex("webhook_deliveries_event_idx")
    .on("webhook_deliveries")
    .column("event_id")
    .execute();

  await db.schema
    .createTable("quota_alerts")
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("period_start", "timestamptz", (c) => c.notNull())
    .addColumn("threshold", "double precision", (c) => c.notNull())
    // The event's id; no foreign key, as no event is stored when nothing subscribes.
    .addColumn("event_id", "text", (c) => c.notNull())
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("quota_alerts_pkey", ["user_id", "period_start", "threshold"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("quota_alerts").execute();
  await db.schema.dropTable("webhook_deliveries").execute();
  await db.schema.dropTable("webhook_events").execute();
  await db.schema.dropTable("webhooks").execute();
}
