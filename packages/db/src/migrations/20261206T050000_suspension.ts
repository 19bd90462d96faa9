import { type Kysely, sql } from "kysely";

// Frozen. Users suspended for non-payment (from Stripe webhooks), the Stripe events received (one row
// per event id: a redelivery changes nothing twice) and, per Stripe customer, the newest event applied
// (an older event delivered late is recorded, not applied).
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("users")
    .addColumn("suspended_at", "timestamptz")
    .addColumn("suspended_reason", "text")
    .execute();
  await db.schema
    .alterTable("users")
    .addCheckConstraint("users_suspension", sql`(suspended_at is null) = (suspended_reason is null)`)
    .execute();

  await db.schema
    .createTable("stripe_webhook_events")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("type", "text", (c) => c.notNull())
    // The event's own `created` (Stripe's clock, whole seconds): what ordering compares.
    .addColumn("created", "timestamptz", (c) => c.notNull())
    .addColumn("stripe_customer_id", "text")
    // What became of it: applied, stale (older than one applied), ignored (no action, no customer).
    .addColumn("outcome", "text", (c) => c.notNull())
    .addColumn("users_changed", "integer", (c) => c.notNull().defaultTo(0))
    .addColumn("received_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint("stripe_webhook_events_outcome", sql`outcome in ('applied', 'stale', 'ignored')`)
    .execute();
  await db.schema
    .createIndex("stripe_webhook_events_customer_idx")
    .on("stripe_webhook_events")
    .columns(["stripe_customer_id", "created"])
    .execute();

  await db.schema
    .createTable("stripe_customer_billing")
    .addColumn("stripe_customer_id", "text", (c) => c.primaryKey())
    // The newest suspension-affecting event applied for this customer.
    .addColumn("last_event_created", "timestamptz", (c) => c.notNull())
    .addColumn("last_event_id", "text", (c) => c.notNull())
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("stripe_customer_billing").execute();
  await db.schema.dropTable("stripe_webhook_events").execute();
  await db.schema.alterTable("users").dropConstraint("users_suspension").execute();
  await db.schema.alterTable("users").dropColumn("suspended_reason").dropColumn("suspended_at").execute();
}
