import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

export interface CountRow {
  keyId: string;
  minute: Date;
  allowed: number;
  denied: number;
}

/** Adds to the per-key, per-minute counts: one statement for the whole batch, additive across replicas. */
export async function addAuthzCounts(db: Queryable, rows: CountRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db
    .insertInto("authz_counts")
    .values(rows.map((r) => ({ key_id: r.keyId, minute: r.minute, allowed: r.allowed, denied: r.denied })))
    .onConflict((oc) =>
      oc.columns(["key_id", "minute"]).doUpdateSet({
        allowed: sql`authz_counts.allowed + excluded.allowed`,
        denied: sql`authz_counts.denied + excluded.denied`,
        updated_at: sql`now()`,
      }),
    )
    .execute();
}

/** Moves last_used_at forward (never back) for a batch of keys, in one statement. */
export async function touchLastUsed(db: Queryable, lastUsed: Map<string, Date>): Promise<void> {
  if (lastUsed.size === 0) return;
  const values = sql.join([...lastUsed].map(([id, at]) => sql`(${id}::text, ${at}::timestamptz)`));
  await sql`
    update api_keys set last_used_at = v.at
    from (values ${values}) as v(id, at)
    where api_keys.id = v.id and (api_keys.last_used_at is null or api_keys.last_used_at < v.at)
  `.execute(db);
}
