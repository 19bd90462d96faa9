import { createDb } from "@gateway/db";
import { startTcpProxy } from "@gateway/testing";
import { sql } from "kysely";
import { describe, expect, test } from "./fixtures.js";

describe("the Postgres pool", () => {
  test("a connection reset in the middle of a query fails that query and is reported, the process lives on", async ({
    services,
  }) => {
    const target = new URL(services.databaseUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const via = new URL(services.databaseUrl);
    via.hostname = "127.0.0.1";
    via.port = String(proxy.port);
    const reported: string[] = [];
    const db = createDb({ url: via.toString(), max: 2, onError: (err) => reported.push(err.message) });
    try {
      const slow = sql`select pg_sleep(5)`.execute(db);
      const outcome = slow.then(
        () => "answered",
        (err: Error) => err.message,
      );
      // The query is on the wire before the connection is cut.
      await expect
        .poll(async () => {
          const { rows } = await sql<{ n: number }>`
            select count(*)::int as n from pg_stat_activity where query = 'select pg_sleep(5)'
          `.execute(createProbe(services.databaseUrl));
          return rows[0]?.n ?? 0;
        })
        .toBe(1);
      proxy.setMode("refuse");
      expect(await outcome).not.toBe("answered");
      await expect.poll(() => reported.length).toBeGreaterThan(0);

      proxy.setMode("forward");
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(db);
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      await db.destroy();
      await probe?.destroy();
      await proxy.close();
    }
  });
});

let probe: ReturnType<typeof createDb> | undefined;
function createProbe(url: string) {
  probe ??= createDb({ url, max: 1 });
  return probe;
}
