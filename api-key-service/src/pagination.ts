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
