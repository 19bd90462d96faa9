import { type Kysely, sql } from "kysely";

// Frozen. Usage rolled up from Envoy's access log, the batches already written, and the Stripe outbox.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("usage_minutes")
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("minute", "timestamptz", (c) => c.notNull())
    .addColumn("user_id", "text", (c) => c.notNull())
    .addColumn("stripe_customer_id", "text")
    .addColumn("requests", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("billable_requests", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("bytes_in", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("bytes_out", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("status_2xx", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("status_3xx", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("status_4xx", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("status_5xx", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("usage_minutes_pkey", ["key_id", "minute"])
    .execute();
  await db.schema
    .createIndex("usage_minutes_user_idx")
    .on("usage_minutes")
    .columns(["user_id", "minute"])
    .execute();
  await db.schema
    .createIndex("usage_minutes_customer_idx")
    .on("usage_minutes")
    .columns(["stripe_customer_id", "minute"])
    .execute();

  await db.schema
    .createTable("usage_batches")
    .addColumn("batch_id", "text", (c) => c.primaryKey())
    .addColumn("entries", "integer", (c) => c.notNull())
    .addColumn("written_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createTable("stripe_outbox")
    .addColumn("id", "bigserial", (c) => c.primaryKey())
    .addColumn("identifier", "text", (c) => c.notNull().unique())
    .addColumn("stripe_customer_id", "text", (c) => c.notNull())
    .addColumn("event_name", "text", (c) => c.notNull())
    .addColumn("window_start", "timestamptz", (c) => c.notNull())
    .addColumn("value", "bigint", (c) => c.notNull())
    .addColumn("status", "text", (c) => c.notNull().defaultTo("pending"))
    .addColumn("attempts", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("next_attempt_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("last_error", "text")
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("sent_at", "timestamptz")
    .addCheckConstraint("stripe_outbox_status", sql`status in ('pending', 'sent', 'dead')`)
    .execute();
  await db.schema
    .createIndex("stripe_outbox_due_idx")
    .on("stripe_outbox")
    .columns(["status", "next_attempt_at"])
    .execute();
  await db.schema
    .createIndex("stripe_outbox_window_idx")
    .on("stripe_outbox")
    .columns(["stripe_customer_id", "event_name", "window_start"])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("stripe_outbox").execute();
  await db.schema.dropTable("usage_batches").execute();
  await db.schema.dropTable("usage_minutes").execute();
}
