import { createDb } from "@gateway/db";
import { startTcpProxy } from "@gateway/testing";
import { sql } from "kysely";
import { expect } from "./fixtures.js";

/**
 * A database handle whose answers a test can hold back: through a proxy, a query reaches Postgres
 * and runs, and its result arrives when the test releases it. For reads that race a change.
 */
export async function postgresWithHeldAnswers(databaseUrl: string) {
  const url = new URL(databaseUrl);
  const proxy = await startTcpProxy(url.hostname, Number(url.port || 5432));
  url.port = String(proxy.port);
  const db = createDb({ url: url.toString(), max: 1 });
  const admin = createDb({ url: databaseUrl, max: 1 });
  await sql`select 1`.execute(db); // the pool's one connection, opened before answers are held
  // Postgres ran a query containing `marker` that began after `since`, and is idle again.
  const ran = (marker: string, since: Date) =>
    sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
      where datname = current_database() and state = 'idle' and state_change > ${since}
        and query like ${`%${marker}%`}`
      .execute(admin)
      .then((r) => r.rows[0]?.n ?? 0);
  return {
    db,
    /**
     * Starts `read` with answers held; resolves once Postgres has run its query (one containing
     * `marker`), with the read still waiting for the answer.
     */
    async hold<T>(marker: string, read: () => Promise<T>): Promise<{ pending: Promise<T> }> {
      const since = (await sql<{ t: Date }>`select clock_timestamp() as t`.execute(admin)).rows[0]?.t as Date;
      proxy.holdAnswers();
      const pending = read();
      await expect.poll(() => ran(marker, since)).toBe(1);
      return { pending }; // wrapped: an async function returning the promise would wait for it
    },
    release: () => proxy.releaseAnswers(),
    async close() {
      proxy.releaseAnswers();
      await db.destroy();
      await admin.destroy();
      await proxy.close();
    },
  };
}
