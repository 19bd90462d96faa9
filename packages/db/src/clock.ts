import { sql } from "kysely";

/**
 * `now()` plus `ms` milliseconds, in SQL: a time on Postgres's clock, for rows whose due time is
 * compared with `now()` (an outbox's next attempt, a lease). Mixing in this process's clock, in whole
 * milliseconds and perhaps skewed, left rows created a moment earlier "in the future".
 */
export function fromNow(ms: number) {
  return sql<Date>`now() + ${Math.max(0, Math.round(ms))} * interval '1 millisecond'`;
}
