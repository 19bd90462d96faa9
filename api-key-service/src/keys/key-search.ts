import type { ApiKeyRow, Database, Queryable } from "@gateway/db";
import type { Kysely } from "kysely";
import { AppError } from "../errors.js";
import { createdPosition, decodeCreatedCursor, olderThan, type Page, toPage } from "../pagination.js";
import { KEY_STATUSES, keyStatusIs } from "./key-status-sql.js";
import { type KeyStatus, type KeyView, toKeyView } from "./key-view.js";
import type { KeyPosition } from "./keys.repository.js";
import { KEY_CURSOR_ID } from "./keys.service.js";

export interface KeySearchFilter {
  user_id?: string;
  status?: KeyStatus;
  /** Matches a name starting with q in any case, or a key_start starting with q exactly. */
  q?: string;
  /** Exclusive bounds on created_at. */
  created_after?: Date;
  created_before?: Date;
}

export interface KeySearchQuery extends KeySearchFilter {
  /** The instant statuses are judged at, the same one toKeyView is given. */
  now: Date;
}

/** Makes `%`, `_` and `\` match themselves in a LIKE pattern (backslash is Postgres' default escape). */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, "\\$&");
}

/** The query `searchKeys` runs, newest first; exported so tests can EXPLAIN exactly this SQL. */
export function searchKeysQuery(db: Queryable, filter: KeySearchQuery, limit: number, after?: KeyPosition) {
  let query = db
    .selectFrom("api_keys")
    .selectAll()
    .orderBy("created_at", "desc")
    .orderBy("id", "desc")
    .limit(limit);
  const { user_id, status, q, created_after, created_before, now } = filter;
  if (user_id !== undefined) query = query.where("user_id", "=", user_id);
  if (status !== undefined) query = query.where((eb) => keyStatusIs(eb, status, now));
  if (q) {
    const prefix = `${escapeLike(q)}%`;
    // lower() on both sides (not toLowerCase in JS) so the pattern folds case as the index does.
    query = query.where((eb) =>
      eb.or([
        eb(eb.fn("lower", ["name"]), "like", eb.fn("lower", [eb.val(prefix)])),
        eb("key_start", "like", prefix),
      ]),
    );
  }
  if (created_after !== undefined) query = query.where("created_at", ">", created_after);
  if (created_before !== undefined) query = query.where("created_at", "<", created_before);
  if (after) {
    query = query.where(olderThan(after));
  }
  return query;
}

/** Newest first; `after` is the last row of the previous page. */
export async function searchKeys(
  db: Queryable,
  filter: KeySearchQuery,
  limit: number,
  after?: KeyPosition,
): Promise<ApiKeyRow[]> {
  return searchKeysQuery(db, filter, limit, after).execute();
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const MAX_QUERY_LENGTH = 200;
/** Postgres' timestamptz reaches less far back than a JavaScript Date; keep to four-digit years. */
const EARLIEST = new Date("0001-01-01T00:00:00.000Z").getTime();
const LATEST = new Date("9999-12-31T23:59:59.999Z").getTime();

/** The HTTP layer validates too; this keeps a bad value from reaching Postgres as a 500. */
function checkFilter(filter: KeySearchFilter): void {
  if (filter.status !== undefined && !KEY_STATUSES.includes(filter.status)) {
    throw AppError.invalid("status", `must be one of ${KEY_STATUSES.join(", ")}`);
  }
  if (filter.q !== undefined && (filter.q.length > MAX_QUERY_LENGTH || CONTROL_CHARS.test(filter.q))) {
    throw AppError.invalid("q", `must be at most ${MAX_QUERY_LENGTH} characters, without control characters`);
  }
  for (const field of ["created_after", "created_before"] as const) {
    const time = filter[field]?.getTime();
    if (time !== undefined && !(time >= EARLIEST && time <= LATEST)) {
      throw AppError.invalid(field, "must be a date-time between the years 1 and 9999");
    }
  }
}

export class KeySearch {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async search(filter: KeySearchFilter, limit: number, cursor?: string): Promise<Page<KeyView>> {
    checkFilter(filter);
    const after = cursor ? decodeCreatedCursor(cursor, KEY_CURSOR_ID) : undefined;
    const now = this.now();
    const rows = await searchKeys(this.db, { ...filter, now }, limit + 1, after);
    return toPage(rows, limit, (row) => toKeyView(row, now), createdPosition);
  }
}
