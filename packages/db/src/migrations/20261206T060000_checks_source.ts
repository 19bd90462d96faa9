import { type Kysely, sql } from "kysely";

// Frozen. BILLING_SOURCE=checks: the billing sidecar takes usage from authz_counts instead of the
// access log. It finds the rows written since its last pass by updated_at (a late flush of an old
// minute included), and keeps its place in checks_cursor: from which minute checks are billed, and
// the updated_at below which every row has been taken.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("authz_counts_updated_idx").on("authz_counts").column("updated_at").execute();
  await db.schema
    .createTable("checks_cursor")
    .addColumn("source", "text", (c) => c.primaryKey())
    .addColumn("bill_from", "timestamptz", (c) => c.notNull())
    .addColumn("scanned_to", "timestamptz", (c) => c.notNull())
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("checks_cursor").execute();
  await db.schema.dropIndex("authz_counts_updated_idx").execute();
}
