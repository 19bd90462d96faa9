import type { ApiKeyRow, Database } from "@gateway/db";
import type { CompiledQuery, Kysely } from "kysely";
import { sql } from "kysely";
import { AppError } from "../src/errors.js";
import { KeySearch, type KeySearchFilter, searchKeysQuery } from "../src/keys/key-search.js";
import { type KeyStatus, type KeyView, keyStatus, toKeyView } from "../src/keys/key-view.js";
import { encodeCursor } from "../src/pagination.js";
import { usageByCustomerSql } from "../src/usage/usage-by-customer.js";
import { keyCountsQuery, listUsersQuery } from "../src/users/user-directory.js";
import { describe, expect, explain, KEY_COLUMNS, planNodes, test } from "./db-fixture.js";

const NOW = new Date("2026-12-01T12:00:00.000Z");
const STATUSES: KeyStatus[] = ["active", "disabled", "expired", "revoked"];

/** Names chosen to trip LIKE: metacharacters, a backslash, case, a non-ASCII capital. */
const NAMES = [
  "Prod server",
  "prod-worker",
  "Staging",
  "CI runner",
  "50%_off",
  "a_b",
  "axb",
  "back\\slash",
  "ÄRGER key",
  "%weird",
  "_under",
  "gw_named",
];

/**
 * 300 keys over 10 users, every status (an expiry exactly at NOW counts as expired), created three to
 * a minute so that ties on created_at are broken by id.
 */
async function insertMixedKeys(db: Kysely<Database>): Promise<ApiKeyRow[]> {
  await sql`insert into users (user_id) select 'user_' || u from generate_series(0, 9) u`.execute(db);
  await sql`
    insert into api_keys (${sql.raw(KEY_COLUMNS)})
    select 'key_' || md5(i::text), 'user_' || (i % 10), (${NAMES}::text[])[i % 12 + 1] || ' ' || i,
           md5('hash' || i), 'gw_' || substr(md5('start' || i), 1, 6), i % 7 <> 0,
           case i % 5 when 0 then ${NOW}::timestamptz - make_interval(mins => i)
                      when 1 then ${NOW}::timestamptz + interval '1 day'
                      when 2 then ${NOW}::timestamptz end,
           case when i % 11 = 0 then ${NOW}::timestamptz - interval '1 hour' end,
           ${NOW}::timestamptz - make_interval(mins => i / 3), ${NOW}::timestamptz,
           case when i % 4 = 0 then ${NOW}::timestamptz - make_interval(secs => i) end
      from generate_series(1, 300) i
  `.execute(db);
  return db.selectFrom("api_keys").selectAll().execute();
}

const newestFirst = (a: { created_at: Date; id: string }, b: { created_at: Date; id: string }) =>
  b.created_at.getTime() - a.created_at.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);

/** What the search should find, worked out in JavaScript from the rows and keyStatus(). */
function expected(rows: ApiKeyRow[], f: KeySearchFilter): KeyView[] {
  return rows
    .filter(
      (r) =>
        (f.user_id === undefined || r.user_id === f.user_id) &&
        (f.status === undefined || keyStatus(r, NOW) === f.status) &&
        (f.q === undefined ||
          r.name.toLowerCase().startsWith(f.q.toLowerCase()) ||
          r.key_start.startsWith(f.q)) &&
        (f.created_after === undefined || r.created_at > f.created_after) &&
        (f.created_before === undefined || r.created_at < f.created_before),
    )
    .sort(newestFirst)
    .map((r) => toKeyView(r, NOW));
}

/** Every page of a search, following next_cursor to the end. */
async function walk(search: KeySearch, filter: KeySearchFilter, limit: number): Promise<KeyView[]> {
  const out: KeyView[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await search.search(filter, limit, cursor);
    expect(page.data.length).toBeLessThanOrEqual(limit);
    out.push(...page.data);
    if (!page.next_cursor) return out;
    cursor = page.next_cursor;
  }
  throw new Error("pagination did not end");
}

describe("KeySearch filters", () => {
  test("each filter alone finds exactly the keys it should", async ({ db }) => {
    const rows = await insertMixedKeys(db);
    const search = new KeySearch(db, () => NOW);
    const tie = new Date(NOW.getTime() - 30 * 60_000); // created_at of three keys
    const filters: KeySearchFilter[] = [
      {},
      { user_id: "user_3" },
      { user_id: "nobody" },
      ...STATUSES.map((status) => ({ status })),
      ...["prod", "PROD", "Prod s", "50%", "50%_", "5", "%", "_", "a_", "ax", "back\\", "back\\s"].map(
        (q) => ({ q }),
      ),
      ...["ä", "Ä", "gw_", "GW_", "gw_0", "gw_a", "zzz", ""].map((q) => ({ q })),
      { created_after: tie },
      { created_before: tie },
      { created_after: new Date(tie.getTime() - 60 * 60_000), created_before: tie },
    ];
    for (const filter of filters) {
      const want = expected(rows, filter);
      expect(await walk(search, filter, 7), JSON.stringify(filter)).toEqual(want);
    }
    // The filters are not vacuous: each status and the LIKE edge cases select some keys but not all.
    for (const f of [...STATUSES.map((status) => ({ status })), { q: "50%_" }, { q: "%" }, { q: "_" }]) {
      expect(expected(rows, f).length, JSON.stringify(f)).toBeGreaterThan(0);
      expect(expected(rows, f).length).toBeLessThan(rows.length);
    }
    // Escaping: `_` and `%` in q are literal, so "a_" finds "a_b" but not "axb".
    expect(expected(rows, { q: "a_" }).every((k) => k.name.startsWith("a_"))).toBe(true);
    const nearTie = await walk(search, { created_after: tie }, 100);
    expect(nearTie.some((k) => k.created_at === tie.toISOString())).toBe(false);
  });

  test("filters combine (every combination of user, status, q and created range)", async ({ db }) => {
    const rows = await insertMixedKeys(db);
    const search = new KeySearch(db, () => NOW);
    const tie = new Date(NOW.getTime() - 30 * 60_000);
    const ranges: KeySearchFilter[] = [
      {},
      { created_after: new Date(tie.getTime() - 45 * 60_000) },
      { created_before: tie },
      { created_after: new Date(tie.getTime() - 45 * 60_000), created_before: tie },
    ];
    let nonEmpty = 0;
    for (const user_id of [undefined, "user_3", "nobody"]) {
      for (const status of [undefined, ...STATUSES]) {
        for (const q of [undefined, "prod", "gw_a", "50%_"]) {
          for (const range of ranges) {
            const filter: KeySearchFilter = { user_id, status, q, ...range };
            const want = expected(rows, filter);
            if (want.length > 0) nonEmpty++;
            expect(await walk(search, filter, 25), JSON.stringify(filter)).toEqual(want);
          }
        }
      }
    }
    expect(nonEmpty).toBeGreaterThan(60);
  });

  test("bad filter values are refused as INVALID_INPUT before reaching Postgres", async ({ db }) => {
    const search = new KeySearch(db, () => NOW);
    const bad: KeySearchFilter[] = [
      { q: "a\u0000b" },
      { q: "x".repeat(201) },
      { status: "gone" as KeyStatus },
      { created_after: new Date(Date.UTC(-5000, 0, 1)) },
      { created_before: new Date(Number.NaN) },
    ];
    for (const filter of bad) {
      const err = await search.search(filter, 10).catch((e: unknown) => e);
      expect(err, JSON.stringify(filter)).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("INVALID_INPUT");
    }
  });
});

describe("KeySearch pagination", () => {
  /** Four keys to a second, so a quarter of page boundaries fall inside a created_at tie. */
  async function insertManyKeys(db: Kysely<Database>, count: number): Promise<void> {
    await sql`insert into users (user_id) select 'user_' || u from generate_series(0, 19) u`.execute(db);
    await sql`
      insert into api_keys (${sql.raw(KEY_COLUMNS)})
      select 'key_' || md5(i::text), 'user_' || (i % 20), 'key ' || i, md5('hash' || i),
             'gw_' || substr(md5('start' || i), 1, 6), i % 9 <> 0, null,
             case when i % 13 = 0 then ${NOW}::timestamptz end,
             ${NOW}::timestamptz - make_interval(secs => i / 4), ${NOW}::timestamptz, null
        from generate_series(1, ${count}::int) i
    `.execute(db);
  }

  const allIds = async (db: Kysely<Database>, where = sql`true`) =>
    (
      await sql<{
        id: string;
      }>`select id from api_keys where ${where} order by created_at desc, id desc`.execute(db)
    ).rows.map((r) => r.id);

  test("walks every one of a few thousand keys exactly once, newest first", async ({ db }) => {
    await insertManyKeys(db, 3000);
    const search = new KeySearch(db, () => NOW);
    const every = await allIds(db);
    expect(every).toHaveLength(3000);
    for (const limit of [100, 37, 1]) {
      expect((await walk(search, {}, limit)).map((k) => k.id)).toEqual(every);
    }
    expect((await walk(search, { user_id: "user_7" }, 13)).map((k) => k.id)).toEqual(
      await allIds(db, sql`user_id = 'user_7'`),
    );
    expect((await walk(search, { status: "disabled" }, 11)).map((k) => k.id)).toEqual(
      await allIds(db, sql`revoked_at is null and not enabled`),
    );
  });

  test("keys inserted while paging neither repeat nor hide the keys that were there", async ({ db }) => {
    await insertManyKeys(db, 2000);
    const search = new KeySearch(db, () => NOW);
    const before = await allIds(db);
    // New keys both newer than everything and back-dated into the range being walked, some of them
    // sharing a created_at with keys already there.
    const insertSome = (round: number) =>
      sql`
      insert into api_keys (${sql.raw(KEY_COLUMNS)})
      select 'key_' || md5('new' || ${round}::int || '-' || n), 'user_1', 'new ' || n,
             md5('newhash' || ${round}::int || '-' || n), 'gw_new000', true, null, null,
             case when n % 2 = 0 then ${NOW}::timestamptz + make_interval(secs => ${round}::int)
                  else ${NOW}::timestamptz - make_interval(secs => (n * 37 + ${round}::int * 11) % 500) end,
             ${NOW}::timestamptz, null
        from generate_series(1, 20) n
    `.execute(db);

    const seen: KeyView[] = [];
    let cursor: string | undefined;
    for (let round = 0; round < 1000; round++) {
      // The insert races the page read, and another lands between reads.
      const [page] = await Promise.all([search.search({}, 50, cursor), insertSome(2 * round)]);
      seen.push(...page.data);
      await insertSome(2 * round + 1);
      if (!page.next_cursor) break;
      cursor = page.next_cursor;
    }
    const ids = seen.map((k) => k.id);
    expect(new Set(ids).size).toBe(ids.length);
    const seenIds = new Set(ids);
    expect(before.filter((id) => !seenIds.has(id))).toEqual([]);
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1] as KeyView, seen[i] as KeyView];
      expect(a.created_at > b.created_at || (a.created_at === b.created_at && a.id > b.id)).toBe(true);
    }
  });

  test("a forged cursor is INVALID_INPUT", async ({ db }) => {
    await insertManyKeys(db, 10);
    const search = new KeySearch(db, () => NOW);
    const forged = [
      "not a cursor",
      Buffer.from("[1,2]").toString("base64url"),
      encodeCursor({ created_at: "2026-12-01T00:00:00.000Z" }),
      encodeCursor({ created_at: "yesterday", id: "key_abc" }),
      encodeCursor({ created_at: "2026-13-45T00:00:00.000Z", id: "key_abc" }),
      encodeCursor({ created_at: "-271821-04-20T00:00:00.000Z", id: "key_abc" }),
      encodeCursor({ created_at: "2026-12-01T00:00:00.000Z", id: "key_a\u0000b" }),
      encodeCursor({ created_at: "2026-12-01T00:00:00.000Z", id: "x' or 1=1 --" }),
    ];
    for (const cursor of forged) {
      const err = await search.search({}, 5, cursor).catch((e: unknown) => e);
      expect(err, cursor).toBeInstanceOf(AppError);
      expect((err as AppError).code).toBe("INVALID_INPUT");
    }
  });
});

/** Each query's plan nodes, by name. */
async function plansOf(db: Kysely<Database>, queries: Record<string, CompiledQuery>) {
  const plans: Record<string, string[]> = {};
  for (const [name, query] of Object.entries(queries)) plans[name] = planNodes(await explain(db, query));
  return plans;
}

function expectIndexOnly(plans: Record<string, string[]>): void {
  const scanned = Object.keys(plans).filter((name) => plans[name]?.some((n) => n.includes("Seq Scan")));
  expect(scanned, JSON.stringify(plans, null, 1)).toEqual([]);
  for (const [name, nodes] of Object.entries(plans)) {
    expect(
      nodes.some((n) => n.includes("Index")),
      name,
    ).toBe(true);
  }
}

describe("query plans on 100,000 keys", () => {
  test("no key search, user listing or customer usage query reads a whole table", {
    timeout: 180_000,
  }, async ({ db }) => {
    await sql`insert into users (user_id, stripe_customer_id)
              select 'user_' || u, 'cus_' || (u % 200) from generate_series(0, 4999) u`.execute(db);
    // ~2% revoked, ~2% disabled, ~3% expired, a quarter expiring later; names of four kinds.
    await sql`
      insert into api_keys (${sql.raw(KEY_COLUMNS)})
      select 'key_' || md5(i::text), 'user_' || (i % 5000),
             (array['Prod ', 'Staging ', 'CI ', 'Dev '])[i % 4 + 1] || i,
             md5('hash' || i), 'gw_' || substr(md5('start' || i), 1, 6), i % 47 <> 0,
             case when i % 33 = 0 then ${NOW}::timestamptz - make_interval(days => 1 + i % 30)
                  when i % 4 = 0 then ${NOW}::timestamptz + make_interval(days => 1 + i % 300) end,
             case when i % 50 = 0 then ${NOW}::timestamptz - interval '1 day' end,
             ${NOW}::timestamptz - make_interval(mins => i * 5), ${NOW}::timestamptz,
             case when i % 3 = 0 then ${NOW}::timestamptz - make_interval(mins => i % 10000) end
        from generate_series(1, 100000) i
    `.execute(db);
    // 1,000 keys over 100 minutes of usage and authz counts, 200 customers.
    const usageStart = new Date("2026-11-30T00:00:00.000Z");
    await sql`
      insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests)
      select 'key_' || md5(k::text), ${usageStart}::timestamptz + make_interval(mins => m), 'user_' || (k % 5000),
             'cus_' || (k % 200), 10, 9
        from generate_series(1, 1000) k, generate_series(0, 99) m
    `.execute(db);
    await sql`
      insert into authz_counts (key_id, minute, allowed, denied)
      select 'key_' || md5(k::text), ${usageStart}::timestamptz + make_interval(mins => m), 11, 1
        from generate_series(1, 1000) k, generate_series(0, 99) m
    `.execute(db);
    await sql`analyze`.execute(db);

    const deep = await db
      .selectFrom("api_keys")
      .select(["created_at", "id"])
      .where("id", "=", sql<string>`'key_' || md5('50000')`)
      .executeTakeFirstOrThrow();
    const days = (n: number) => new Date(NOW.getTime() - n * 86_400_000);
    const filters: Record<string, KeySearchFilter> = {
      none: {},
      user_id: { user_id: "user_42" },
      ...Object.fromEntries(STATUSES.map((status) => [`status=${status}`, { status }])),
      "q (name)": { q: "prod 123" },
      "q (a quarter of names)": { q: "staging" },
      "q (key_start)": { q: "gw_ab" },
      "q (nothing)": { q: "zzz" },
      created_after: { created_after: days(1) },
      "created_after (all)": { created_after: days(400) },
      created_before: { created_before: days(300) },
      "created_before (nearly all)": { created_before: days(1) },
      "created range": { created_after: days(200), created_before: days(100) },
      combined: {
        user_id: "user_42",
        status: "active",
        q: "prod",
        created_after: days(300),
        created_before: NOW,
      },
      "status + q": { status: "revoked", q: "ci" },
      "status + range": { status: "expired", created_before: days(100) },
    };
    const searches = (names: string[]) => {
      const out: Record<string, CompiledQuery> = {};
      for (const name of names) {
        const filter = { ...filters[name], now: NOW };
        out[`search ${name}`] = searchKeysQuery(db, filter, 51).compile();
        out[`search ${name}, later page`] = searchKeysQuery(db, filter, 51, deep).compile();
      }
      return out;
    };

    expectIndexOnly(
      await plansOf(db, {
        ...searches(Object.keys(filters)),
        "users, first page": listUsersQuery(db, 51).compile(),
        "users, later page": listUsersQuery(db, 51, "user_2500").compile(),
        "users, one user": listUsersQuery(db, 51, undefined, "user_42").compile(),
        "user key counts": keyCountsQuery(
          db,
          Array.from({ length: 50 }, (_, i) => `user_${2500 + i}`),
          NOW,
        ).compile(),
        "usage by customer": usageByCustomerSql({
          stripeCustomerId: "cus_7",
          from: usageStart,
          to: new Date(usageStart.getTime() + 86_400_000),
          granularity: "hour",
        }).compile(db),
      }),
    );

    // When revoked, disabled and expired keys are rare, walking the newest-first index to find a page
    // of them would read most of it: these are the plans the partial indexes are for.
    await sql`update api_keys set expires_at = null
               where expires_at <= ${NOW}::timestamptz and right(id, 2) <> '00'`.execute(db);
    await sql`update api_keys set revoked_at = null where revoked_at is not null and right(id, 2) <> '00'`.execute(
      db,
    );
    await sql`update api_keys set enabled = true where not enabled and right(id, 2) <> '00'`.execute(db);
    await sql`analyze api_keys`.execute(db);
    const rare = await plansOf(
      db,
      searches(["status=disabled", "status=expired", "status=revoked", "status + q", "status + range"]),
    );
    expectIndexOnly(rare);
    expect(rare["search status=disabled"]?.join()).toContain("api_keys_disabled_created_idx");
    expect(rare["search status=expired"]?.join()).toContain("api_keys_unrevoked_expiry_idx");
    expect(rare["search status=revoked"]?.join()).toContain("api_keys_revoked_created_idx");
  });
});
