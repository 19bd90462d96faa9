import { type Kysely, sql } from "kysely";

// Frozen. Usage recorded without a Stripe customer, settled by the billing sidecar once the key or
// its user has one: the units then enqueued for Stripe (backfilled), those already too old for
// Stripe's 35-day window (unbillable), the customer billed and when. Outbox events of a backfill are
// told apart from the per-window ones, whose differences must not count them.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable("usage_minutes")
    .addColumn("backfilled_units", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("unbillable_units", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("backfill_customer_id", "text")
    // Null while the row holds customerless units no backfill has settled yet.
    .addColumn("backfilled_at", "timestamptz")
    .execute();
  // What a backfill pass looks through. The predicate names no counter the usage writer updates, so
  // its upserts stay HOT; settled rows drop out, so the index holds only what is still owed.
  await db.schema
    .createIndex("usage_minutes_unsettled_idx")
    .on("usage_minutes")
    .columns(["key_id", "minute"])
    .where(sql.ref("stripe_customer_id"), "is", null)
    .where(sql.ref("backfilled_at"), "is", null)
    .execute();

  await db.schema
    .alterTable("stripe_outbox")
    .addColumn("kind", "text", (c) => c.notNull().defaultTo("usage"))
    .execute();
  await db.schema
    .alterTable("stripe_outbox")
    .addCheckConstraint("stripe_outbox_kind", sql`kind in ('usage', 'backfill')`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("stripe_outbox").dropConstraint("stripe_outbox_kind").execute();
  await db.schema.alterTable("stripe_outbox").dropColumn("kind").execute();
  await db.schema.dropIndex("usage_minutes_unsettled_idx").execute();
  await db.schema
    .alterTable("usage_minutes")
    .dropColumn("backfilled_at")
    .dropColumn("backfill_customer_id")
    .dropColumn("unbillable_units")
    .dropColumn("backfilled_units")
    .execute();
}
