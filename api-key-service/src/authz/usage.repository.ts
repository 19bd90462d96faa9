import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

export interface CountRow {
  keyId: string;
  minute: Date;
  allowed: number;
  denied: number;
}

// Both statements pass whole columns as arrays (unnest), not one parameter per value: a flush of
// thousands of keys stays four parameters, and building it costs the event loop next to nothing.

/** Adds to the per-key, per-minute counts: one statement for the whole batch, additive across replicas. */
export async function addAuthzCounts(db: Queryable, rows: CountRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into authz_counts (key_id, minute, allowed, denied)
    select * from unnest(${rows.map((r) => r.keyId)}::text[], ${rows.map((r) => r.minute.toISOString())}::timestamptz[],
                         ${rows.map((r) => r.allowed)}::bigint[], ${rows.map((r) => r.denied)}::bigint[])
    on conflict (key_id, minute) do update
      set allowed = authz_counts.allowed + excluded.allowed,
          denied = authz_counts.denied + excluded.denied,
          updated_at = now()
  `.execute(db);
}

/** Moves last_used_at forward (never back) for a batch of keys, in one statement. */
export async function touchLastUsed(db: Queryable, lastUsed: Map<string, Date>): Promise<void> {
  if (lastUsed.size === 0) return;
  const ids = [...lastUsed.keys()];
  const times = [...lastUsed.values()].map((d) => d.toISOString());
  await sql`
    update api_keys set last_used_at = v.at
      from unnest(${ids}::text[], ${times}::timestamptz[]) as v(id, at)
     where api_keys.id = v.id and (api_keys.last_used_at is null or api_keys.last_used_at < v.at)
  `.execute(db);
}
