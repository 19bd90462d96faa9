import type { ApiKeyRow } from "@gateway/db";
import { AppError } from "../errors.js";
import { decodeCursor } from "../pagination.js";
import type { KeyPosition } from "./keys.repository.js";

/** What a key cursor holds: an ISO timestamp (as toISOString writes it) and a key id. */
const CURSOR_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const CURSOR_ID = /^key_[0-9A-Za-z]{1,64}$/;

/** The position a page of keys (newest first) ends at, for `toPage`. */
export function keyCursorPosition(row: Pick<ApiKeyRow, "created_at" | "id">): Record<string, string> {
  return { created_at: row.created_at.toISOString(), id: row.id };
}

/**
 * A forged cursor is refused before it reaches Postgres, which would fail the query on a NUL in the
 * id or a date outside its range (JavaScript dates reach further back).
 */
export function parseKeyCursor(cursor: string): KeyPosition {
  const after = decodeCursor(cursor, ["created_at", "id"] as const);
  const date = new Date(after.created_at);
  if (!CURSOR_TIME.test(after.created_at) || Number.isNaN(date.getTime()) || !CURSOR_ID.test(after.id)) {
    throw AppError.invalid("cursor", "is not a cursor this API returned");
  }
  return { created_at: date, id: after.id };
}
