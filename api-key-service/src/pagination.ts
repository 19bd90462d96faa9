import { sql } from "kysely";
import { AppError } from "./errors.js";

export interface Page<T> {
  data: T[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  next_cursor: string | null;
}

/** Cursors are opaque to clients: base64url JSON of the last row's position. */
export function encodeCursor(position: Record<string, string>): string {
  return Buffer.from(JSON.stringify(position), "utf8").toString("base64url");
}

export function decodeCursor<K extends string>(cursor: string, keys: readonly K[]): Record<K, string> {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (typeof value === "object" && value !== null) {
      const record = value as Record<string, unknown>;
      if (keys.every((k) => typeof record[k] === "string")) return record as Record<K, string>;
    }
  } catch {
    // fall through to the error below
  }
  throw AppError.invalid("cursor", "is not a cursor this API returned");
}

/** Fetch one more row than asked to know whether a next page exists. */
export function toPage<R, T>(
  rows: R[],
  limit: number,
  view: (row: R) => T,
  position: (row: R) => Record<string, string>,
): Page<T> {
  const hasMore = rows.length > limit;
  const pageRows = hasMore ? rows.slice(0, limit) : rows;
  const last = pageRows.at(-1);
  return { data: pageRows.map(view), next_cursor: hasMore && last ? encodeCursor(position(last)) : null };
}

/** What a newest-first listing writes into a cursor: an ISO timestamp (as toISOString) and an id. */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * Reads a (created_at, id) cursor. A forged one is refused before it reaches Postgres, which would
 * fail the query on a NUL in the id or a date outside its range (JavaScript dates reach further back).
 */
export function decodeCreatedCursor(cursor: string, idPattern: RegExp): { created_at: Date; id: string } {
  const after = decodeCursor(cursor, ["created_at", "id"] as const);
  const date = new Date(after.created_at);
  if (!CURSOR_TIME.test(after.created_at) || Number.isNaN(date.getTime()) || !idPattern.test(after.id)) {
    throw AppError.invalid("cursor", "is not a cursor this API returned");
  }
  return { created_at: date, id: after.id };
}

export const createdPosition = (row: { created_at: Date; id: string }) => ({
  created_at: row.created_at.toISOString(),
  id: row.id,
});

/**
 * The rows after `after` in newest-first (created_at desc, id desc) order: a row comparison, which
 * Postgres serves as one bound on a (created_at desc, id desc) index.
 */
export const olderThan = (after: { created_at: Date; id: string }) =>
  sql<boolean>`(created_at, id) < (${after.created_at}, ${after.id})`;
