import { type Kysely, sql } from "kysely";

// Frozen. Per key and minute, what ext_authz allowed and denied; billing reconciles served usage against it.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("authz_counts")
    .addColumn("key_id", "text", (c) => c.notNull())
    .addColumn("minute", "timestamptz", (c) => c.notNull())
    .addColumn("allowed", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("denied", "bigint", (c) => c.notNull().defaultTo(0))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint("authz_counts_pkey", ["key_id", "minute"])
    .execute();
  await db.schema.createIndex("authz_counts_minute_idx").on("authz_counts").column("minute").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable("authz_counts").execute();
}
