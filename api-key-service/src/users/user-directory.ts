import type { Database, Queryable, UserRow } from "@gateway/db";
import type { Kysely } from "kysely";
import { AppError } from "../errors.js";
import { KEY_STATUSES, keyStatusIs } from "../keys/key-status-sql.js";
import type { KeyStatus } from "../keys/key-view.js";
import { decodeCursor, type Page, toPage } from "../pagination.js";
import { findUser } from "./users.repository.js";

export type KeyCounts = Record<KeyStatus | "total", number>;

export interface UserSummary {
  user_id: string;
  stripe_customer_id: string | null;
  plan_id: string | null;
  /** Billing periods start on its day of the month and time of day (UTC); null: calendar months. */
  billing_cycle_anchor: string | null;
  /** Set while suspended for non-payment: every key is refused, whatever its own status. */
  suspended_at: string | null;
  suspended_reason: string | null;
  created_at: string;
  updated_at: string;
  /** The user's keys by status, judged as keyStatus() judges them. */
  keys: KeyCounts;
  /** The latest use of any of the user's keys. */
  last_used_at: string | null;
}

/** Users by id ascending; `after` is the last user id of the previous page. */
export function listUsersQuery(db: Queryable, limit: number, after?: string, onlyUserId?: string) {
  let query = db.selectFrom("users").selectAll().orderBy("user_id").limit(limit);
  if (after !== undefined) query = query.where("user_id", ">", after);
  if (onlyUserId !== undefined) query = query.where("user_id", "=", onlyUserId);
  return query;
}

/** Key counts per status and the latest use, for a page of users at once. */
export function keyCountsQuery(db: Queryable, userIds: string[], now: Date) {
  return db
    .selectFrom("api_keys")
    .select((eb) => [
      "user_id",
      ...KEY_STATUSES.map((status) =>
        eb.fn
          .countAll<string>()
          .filterWhere((fb) => keyStatusIs(fb, status, now))
          .as(status),
      ),
      eb.fn.countAll<string>().as("total"),
      eb.fn.max("last_used_at").as("last_used_at"),
    ])
    .where("user_id", "in", userIds)
    .groupBy("user_id");
}

interface KeyActivity {
  keys: KeyCounts;
  last_used_at: Date | null;
}

export async function keyActivityByUser(
  db: Queryable,
  userIds: string[],
  now: Date,
): Promise<Map<string, KeyActivity>> {
  if (userIds.length === 0) return new Map();
  const rows = await keyCountsQuery(db, userIds, now).execute();
  return new Map(
    rows.map((r) => [
      r.user_id,
      {
        keys: {
          active: Number(r.active),
          disabled: Number(r.disabled),
          expired: Number(r.expired),
          revoked: Number(r.revoked),
          total: Number(r.total),
        },
        last_used_at: r.last_used_at,
      },
    ]),
  );
}

const NO_KEYS: KeyActivity = {
  keys: { active: 0, disabled: 0, expired: 0, revoked: 0, total: 0 },
  last_used_at: null,
};

function toSummary(user: UserRow, activity: KeyActivity = NO_KEYS): UserSummary {
  return {
    user_id: user.user_id,
    stripe_customer_id: user.stripe_customer_id,
    plan_id: user.plan_id,
    billing_cycle_anchor: user.billing_cycle_anchor?.toISOString() ?? null,
    suspended_at: user.suspended_at?.toISOString() ?? null,
    suspended_reason: user.suspended_reason,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
    keys: { ...activity.keys },
    last_used_at: activity.last_used_at?.toISOString() ?? null,
  };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CURSOR_USER = /^[^\u0000-\u001f\u007f]{1,128}$/;

/** A forged cursor is refused before it reaches Postgres, which would fail the query on a NUL. */
function parseUserCursor(cursor: string): string {
  const { user_id } = decodeCursor(cursor, ["user_id"] as const);
  if (!CURSOR_USER.test(user_id)) throw AppError.invalid("cursor", "is not a cursor this API returned");
  return user_id;
}

export class UserDirectory {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Users by id; `onlyUserId` narrows the list to that user, for a caller that may see only one. */
  async list(limit: number, cursor?: string, onlyUserId?: string): Promise<Page<UserSummary>> {
    const after = cursor ? parseUserCursor(cursor) : undefined;
    const users = await listUsersQuery(this.db, limit + 1, after, onlyUserId).execute();
    const now = this.now();
    const shown = users.slice(0, limit).map((u) => u.user_id);
    const activity = await keyActivityByUser(this.db, shown, now);
    return toPage(
      users,
      limit,
      (user) => toSummary(user, activity.get(user.user_id)),
      (user) => ({ user_id: user.user_id }),
    );
  }

  async get(userId: string): Promise<UserSummary> {
    const user = await findUser(this.db, userId);
    if (!user) throw AppError.notFound("user");
    const activity = await keyActivityByUser(this.db, [userId], this.now());
    return toSummary(user, activity.get(userId));
  }
}
