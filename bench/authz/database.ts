import { randomBytes } from "node:crypto";
import { createDb, migrateToLatest } from "@gateway/db";
import pg from "pg";
import { newId } from "../../api-key-service/src/ids.js";
import { hashKey, KeyFormat } from "../../api-key-service/src/keys/key-format.js";

/** Limits no bench run can reach, so every check is allowed and none is rate limited. */
export const BENCH_LIMIT = 1_000_000_000;
const USERS = 100;
const ROWS_PER_INSERT = 1_000;

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function createBenchDatabase(adminUrl: string): Promise<{ name: string; url: string }> {
  const name = `bench_${randomBytes(6).toString("hex")}`;
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE ${name}`));
  return { name, url: withDatabase(adminUrl, name) };
}

export async function dropBenchDatabase(adminUrl: string, name: string): Promise<void> {
  if (!/^bench_[0-9a-f]+$/.test(name)) throw new Error(`refusing to drop ${name}: not a bench database`);
  await withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
}

/** The service migrates at start too; doing it first lets the keys exist before it ever runs. */
export async function migrateBenchDatabase(url: string): Promise<void> {
  const db = createDb({ url, max: 1 });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
}

/** Inserts `count` keys straight into the tables and returns their plaintext, in insertion order. */
export async function seedKeys(
  url: string,
  count: number,
  keyPrefix: string,
  userPrefix = "bench_user_",
): Promise<string[]> {
  const format = new KeyFormat(keyPrefix);
  const users = Array.from({ length: USERS }, (_, i) => `${userPrefix}${i}`);
  const keys: string[] = [];
  await withClient(url, async (client) => {
    await client.query("INSERT INTO users (user_id) SELECT unnest($1::text[])", [users]);
    for (let start = 0; start < count; start += ROWS_PER_INSERT) {
      const rows = Math.min(ROWS_PER_INSERT, count - start);
      const values: unknown[] = [];
      const tuples: string[] = [];
      for (let i = 0; i < rows; i++) {
        const key = format.generate();
        keys.push(key);
        const n = values.length;
        tuples.push(
          `($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}, $${n + 5}, ${BENCH_LIMIT}, ${BENCH_LIMIT}, '{}'::text[], '{}'::jsonb, now(), now())`,
        );
        values.push(newId("key"), users[(start + i) % USERS], `bench key ${start + i}`, hashKey(key));
        values.push(format.displayStart(key));
      }
      await client.query(
        `INSERT INTO api_keys (id, user_id, name, key_hash, key_start, rate_limit_per_minute, rate_limit_per_day,
           scopes, metadata, created_at, updated_at)
         VALUES ${tuples.join(", ")}`,
        values,
      );
    }
    await client.query("ANALYZE users, api_keys");
  });
  return keys;
}

/** Committed transactions of one database, as the statistics collector last saw them. */
export async function committedTransactions(adminUrl: string, name: string): Promise<number> {
  return withClient(adminUrl, async (c) => {
    await c.query("SELECT pg_stat_clear_snapshot()");
    const { rows } = await c.query<{ xact_commit: string }>(
      "SELECT xact_commit FROM pg_stat_database WHERE datname = $1",
      [name],
    );
    return Number(rows[0]?.xact_commit ?? 0);
  });
}

/**
 * The plan of the quota comparison: a monthly quota no run can reach, so every check counts it. A
 * billion units is far more than the whole benchmark sends (about 10 million) and a size real plans
 * have; a quota beyond 2^31 makes V8 format its numbers as doubles, which costs each answer ~2,500
 * more instructions to encode (callgrind).
 */
export const QUOTA_PLAN = { id: "bench_quota", monthlyQuota: 1_000_000_000 };

/** Puts every user whose id starts with `userPrefix` on a plan with a monthly quota. */
export async function putUsersOnQuotaPlan(url: string, userPrefix: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(
      "INSERT INTO plans (id, name, monthly_quota, overage) VALUES ($1, 'Bench quota', $2, 'block')",
      [QUOTA_PLAN.id, QUOTA_PLAN.monthlyQuota],
    );
    await client.query("UPDATE users SET plan_id = $1 WHERE starts_with(user_id, $2)", [
      QUOTA_PLAN.id,
      userPrefix,
    ]);
  });
}
