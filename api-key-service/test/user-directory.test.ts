import type { ApiKeyRow, Database, UserRow } from "@gateway/db";
import { type Kysely, sql } from "kysely";
import { AppError } from "../src/errors.js";
import { keyStatus } from "../src/keys/key-view.js";
import { encodeCursor } from "../src/pagination.js";
import { UserDirectory, type UserSummary } from "../src/users/user-directory.js";
import { countingQueries, describe, expect, KEY_COLUMNS, test } from "./db-fixture.js";

const NOW = new Date("2026-12-01T12:00:00.000Z");
const at = (minutesFromNow: number) => new Date(NOW.getTime() + minutesFromNow * 60_000);

let seq = 0;
async function insertKey(
  db: Kysely<Database>,
  userId: string,
  key: { enabled?: boolean; expires_at?: Date; revoked_at?: Date; last_used_at?: Date } = {},
): Promise<void> {
  seq++;
  await db
    .insertInto("api_keys")
    .values({
      id: `key_dir${seq}`,
      user_id: userId,
      name: `key ${seq}`,
      key_hash: `hash-${seq}`,
      key_start: "gw_abcdef",
      metadata: "{}",
      enabled: key.enabled ?? true,
      expires_at: key.expires_at ?? null,
      revoked_at: key.revoked_at ?? null,
      created_at: at(-seq),
      updated_at: at(-seq),
      last_used_at: key.last_used_at ?? null,
    })
    .execute();
}

/** The summary worked out in JavaScript from the rows and keyStatus(). */
function expectedSummary(user: UserRow, keys: ApiKeyRow[]): UserSummary {
  const mine = keys.filter((k) => k.user_id === user.user_id);
  const count = (status: string) => mine.filter((k) => keyStatus(k, NOW) === status).length;
  const used = mine.flatMap((k) => (k.last_used_at ? [k.last_used_at.getTime()] : []));
  return {
    user_id: user.user_id,
    stripe_customer_id: user.stripe_customer_id,
    plan_id: user.plan_id,
    billing_cycle_anchor: user.billing_cycle_anchor?.toISOString() ?? null,
    suspended_at: user.suspended_at?.toISOString() ?? null,
    suspended_reason: user.suspended_reason,
    created_at: user.created_at.toISOString(),
    updated_at: user.updated_at.toISOString(),
    keys: {
      active: count("active"),
      disabled: count("disabled"),
      expired: count("expired"),
      revoked: count("revoked"),
      total: mine.length,
    },
    last_used_at: used.length ? new Date(Math.max(...used)).toISOString() : null,
  };
}

describe("UserDirectory", () => {
  test("counts keys by status as keyStatus() does, with the latest use over all keys", async ({ db }) => {
    await db
      .insertInto("users")
      .values([
        { user_id: "alice", stripe_customer_id: "cus_Alice" },
        { user_id: "bob", stripe_customer_id: null },
        { user_id: "carol", stripe_customer_id: null },
      ])
      .execute();
    await insertKey(db, "alice", { last_used_at: at(-30) });
    await insertKey(db, "alice", { expires_at: at(1) }); // active until a minute from now
    await insertKey(db, "alice", { enabled: false, last_used_at: at(-20) });
    await insertKey(db, "alice", { expires_at: NOW }); // expiring at this instant is expired
    await insertKey(db, "alice", { expires_at: at(-1), enabled: false }); // expired wins over disabled
    await insertKey(db, "alice", { revoked_at: at(-5), expires_at: at(-1), last_used_at: at(-6) }); // revoked wins
    await insertKey(db, "alice", { revoked_at: at(-5), enabled: false });
    await insertKey(db, "carol");
    const directory = new UserDirectory(db, () => NOW);

    const alice = await directory.get("alice");
    expect(alice).toMatchObject({
      user_id: "alice",
      stripe_customer_id: "cus_Alice",
      keys: { active: 2, disabled: 1, expired: 2, revoked: 2, total: 7 },
      last_used_at: at(-6).toISOString(),
    });
    expect(await directory.get("bob")).toMatchObject({
      keys: { active: 0, disabled: 0, expired: 0, revoked: 0, total: 0 },
      last_used_at: null,
    });
    expect(await directory.get("carol")).toMatchObject({
      keys: { active: 1, disabled: 0, expired: 0, revoked: 0, total: 1 },
      last_used_at: null,
    });
    const page = await directory.list(10);
    expect(page.data.map((u) => u.user_id)).toEqual(["alice", "bob", "carol"]);
    expect(page.data[0]).toEqual(alice);
    expect(page.next_cursor).toBeNull();

    // An hour later the key that expired in a minute counts as expired.
    const later = new UserDirectory(db, () => at(60));
    expect((await later.get("alice")).keys).toEqual({
      active: 1,
      disabled: 1,
      expired: 3,
      revoked: 2,
      total: 7,
    });
  });

  test("pages through every user once, in id order, with two queries a page", async ({ db }) => {
    await sql`insert into users (user_id, stripe_customer_id)
              select 'user_' || u, case when u % 3 = 0 then 'cus_' || u end from generate_series(1, 250) u`.execute(
      db,
    );
    await sql`
      insert into api_keys (${sql.raw(KEY_COLUMNS)})
      select 'key_' || md5(i::text), 'user_' || (i % 240 + 1), 'key ' || i, md5('hash' || i), 'gw_abcdef',
             i % 7 <> 0,
             case i % 5 when 0 then ${NOW}::timestamptz - make_interval(mins => i)
                        when 1 then ${NOW}::timestamptz + interval '1 day'
                        when 2 then ${NOW}::timestamptz end,
             case when i % 11 = 0 then ${NOW}::timestamptz - interval '1 hour' end,
             ${NOW}::timestamptz - make_interval(mins => i), ${NOW}::timestamptz,
             case when i % 4 = 0 then ${NOW}::timestamptz - make_interval(secs => i) end
        from generate_series(1, 2000) i
    `.execute(db);
    const users = (await sql<UserRow>`select * from users order by user_id`.execute(db)).rows;
    const keys = await db.selectFrom("api_keys").selectAll().execute();
    const want = users.map((u) => expectedSummary(u, keys));
    expect(want.filter((u) => u.keys.total === 0)).toHaveLength(10);

    for (const limit of [7, 100, 250, 1000]) {
      const counted = countingQueries(db);
      const directory = new UserDirectory(counted.db, () => NOW);
      const seen: UserSummary[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await directory.list(limit, cursor);
        pages++;
        seen.push(...page.data);
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(seen).toEqual(want);
      expect(counted.count()).toBe(2 * pages);
    }
  });

  test("onlyUserId narrows the list to that user", async ({ db }) => {
    await db
      .insertInto("users")
      .values([{ user_id: "alice" }, { user_id: "bob" }].map((u) => ({ ...u, stripe_customer_id: null })))
      .execute();
    await insertKey(db, "bob");
    const directory = new UserDirectory(db, () => NOW);
    const bob = await directory.list(10, undefined, "bob");
    expect(bob.data.map((u) => [u.user_id, u.keys.total])).toEqual([["bob", 1]]);
    expect(bob.next_cursor).toBeNull();
    expect(await directory.list(10, undefined, "nobody")).toEqual({ data: [], next_cursor: null });
    // A cursor past the only user leaves nothing.
    const first = await directory.list(1);
    expect(first.data.map((u) => u.user_id)).toEqual(["alice"]);
    expect((await directory.list(10, first.next_cursor ?? undefined, "alice")).data).toEqual([]);
  });

  test("get of an unknown user is NOT_FOUND", async ({ db }) => {
    const err = await new UserDirectory(db, () => NOW).get("nobody").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: "NOT_FOUND", message: "user was not found" });
  });

  test("a forged cursor is INVALID_INPUT", async ({ db }) => {
    const directory = new UserDirectory(db, () => NOW);
    for (const cursor of [
      "garbage",
      encodeCursor({ nope: "x" }),
      encodeCursor({ user_id: "" }),
      encodeCursor({ user_id: "a\u0000b" }),
      encodeCursor({ user_id: "x".repeat(129) }),
    ]) {
      const err = await directory.list(10, cursor).catch((e: unknown) => e);
      expect(err, cursor).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("INVALID_INPUT");
    }
  });
});
