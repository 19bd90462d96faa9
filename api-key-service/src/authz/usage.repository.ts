import type { Queryable } from "@gateway/db";
import { sql } from "kysely";

export interface CountRow {
  keyId: string;
  /** The minute's start, in epoch milliseconds. */
  minuteMs: number;
  allowed: number;
  denied: number;
  /** Units (cost-weighted) of the allowed checks. */
  allowedUnits: number;
}

// Both statements take the whole batch as one JSON parameter: a flush of thousands of keys is one
// statement with one parameter, and JSON.stringify builds it far faster than pg escapes one array
// element at a time (the check path shares this event loop, so a flush must not stall it).

/** Adds to the per-key, per-minute counts: one statement for the whole batch, additive across replicas. */
export async function addAuthzCounts(db: Queryable, rows: CountRow[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into authz_counts (key_id, minute, allowed, denied, allowed_units)
    select r."keyId", to_timestamp(r."minuteMs" / 1000.0), r.allowed, r.denied, r."allowedUnits"
      from json_to_recordset(${JSON.stringify(rows)}::json)
        as r("keyId" text, "minuteMs" bigint, allowed bigint, denied bigint, "allowedUnits" bigint)
    on conflict (key_id, minute) do update
      set allowed = authz_counts.allowed + excluded.allowed,
          denied = authz_counts.denied + excluded.denied,
          allowed_units = authz_counts.allowed_units + excluded.allowed_units,
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

/**
 * Units a user's keys were admitted in [start, end), by the minute the check was counted in: what a
 * lost quota counter is rebuilt from. One indexed query per user and period (api_keys by user,
 * authz_counts by its primary key).
 */
export async function allowedUnitsOfUser(
  db: Queryable,
  userId: string,
  start: Date,
  end: Date,
): Promise<number> {
  const { rows } = await sql<{ units: string }>`
    select coalesce(sum(c.allowed_units), 0)::text as units
      from authz_counts c join api_keys k on k.id = c.key_id
     where k.user_id = ${userId} and c.minute >= ${start} and c.minute < ${end}
  `.execute(db);
  return Number(rows[0]?.units ?? 0);
}
