import type { Kysely } from "kysely";

/** The reconciliation gauges sum the last hour across all keys: a range on minute alone. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex("usage_minutes_minute_idx").on("usage_minutes").column("minute").execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex("usage_minutes_minute_idx").execute();
}
