import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

export interface CountRow {
  keyId: string;
  /** The minute's start, in epoch milliseconds. */
  minuteMs: number;
  allowed: number;
  denied: number;
}

// Both statements take the whole batch as one JSON parameter: a flush of thousands of keys is one
// statement with one parameter, and JSON.stringify builds it far faster than pg escapes one array
// element at a time (the check path shares this event loop, so a flush must not stall it).

/** Adds to the per-key, per-minute counts: one statement for the whole batch, additive across replicas. */
export async function addAuthzCounts(db: Queryable, rows: CountRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into authz_counts (key_id, minute, allowed, denied)
    select r."keyId", to_timestamp(r."minuteMs" / 1000.0), r.allowed, r.denied
      from json_to_recordset(${JSON.stringify(rows)}::json)
        as r("keyId" text, "minuteMs" bigint, allowed bigint, denied bigint)
    on conflict (key_id, minute) do update
      set allowed = authz_counts.allowed + excluded.allowed,
          denied = authz_counts.denied + excluded.denied,
          updated_at = now()
  `.execute(db);
}

/** Moves last_used_at forward (never back) for a batch of keys, in one statement. */
export async function touchLastUsed(db: Queryable, lastUsed: Map<string, number>): Promise<void> {
  if (lastUsed.size === 0) return;
  const json = JSON.stringify(Array.from(lastUsed, ([id, ms]) => ({ id, ms })));
  await sql`
    update api_keys set last_used_at = v.at
      from (select r.id, to_timestamp(r.ms / 1000.0) as at
              from json_to_recordset(${json}::json) as r(id text, ms bigint)) as v
     where api_keys.id = v.id and (api_keys.last_used_at is null or api_keys.last_used_at < v.at)
  `.execute(db);
}
