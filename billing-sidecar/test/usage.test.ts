import { createDb } from "@gateway/db";
import { startTcpProxy } from "@gateway/testing";
import { writeBatch } from "../src/usage/usage.repository.js";
import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, sample, startSidecar, test } from "./fixtures.js";

const MINUTE_MS = Date.UTC(2026, 10, 21, 11, 0, 0);

describe("usage batches", () => {
  test("a batch retried after its commit is counted once", async ({ services }) => {
    const db = createDb({ url: services.databaseUrl, max: 1 });
    try {
      const rollup = {
        keyId: "key_x",
        minuteMs: MINUTE_MS,
        userId: "xavier",
        stripeCustomerId: "cus_X",
        requests: 5,
        billable: 4,
        billableUnits: 37,
        bytesIn: 10,
        bytesOut: 20,
        status2xx: 4,
        status3xx: 0,
        status4xx: 0,
        status5xx: 1,
      };
      expect(await writeBatch(db, "inst-1", [rollup], 5)).toBe(true);
      expect(await writeBatch(db, "inst-1", [rollup], 5)).toBe(false);
      expect(await writeBatch(db, "inst-2", [rollup], 5)).toBe(true);
      const rows = await db
        .selectFrom("usage_minutes")
        .select(["requests", "billable_requests", "billable_units"])
        .execute();
      expect(rows).toEqual([{ requests: "10", billable_requests: "8", billable_units: "74" }]);
    } finally {
      await db.destroy();
    }
  });

  test("while Postgres is away usage waits in a bounded buffer, sheds beyond it, and lands once it is back", async ({
    services,
  }) => {
    const target = new URL(services.databaseUrl);
    const proxy = await startTcpProxy(target.hostname, Number(target.port));
    const via = new URL(services.databaseUrl);
    via.port = String(proxy.port);
    via.hostname = "127.0.0.1";
    const sidecar = await startSidecar(services, { DATABASE_URL: via.toString(), USAGE_BUFFER_ROWS: "1000" });
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      proxy.setMode("refuse");
      // 600 keys in each of two minutes: 1,200 rows wanted, 1,000 fit.
      const seconds = MINUTE_MS / 1000;
      for (let minute = 0; minute < 2; minute++) {
        const entries = Array.from({ length: 600 }, (_, i) =>
          httpEntry({ keyId: `key_${i}`, userId: "u", code: 200, startSeconds: seconds + minute * 60 }),
        );
        stream.send(entries);
        await sidecar.flush();
      }
      await expect
        .poll(() => sidecar.metricsText().then((m) => sample(m, 'als_entries_total{result="shed"}')))
        .toBe(200);
      expect(sidecar.logs.join("")).toContain("shedding access-log entries");
      await expect
        .poll(() => sidecar.metricsText().then((m) => sample(m, 'usage_batches_total{result="failed"}')))
        .toBeGreaterThan(0);

      proxy.setMode("forward");
      await expect
        .poll(async () => (await sidecar.query("select sum(requests)::int as n from usage_minutes"))[0].n, {
          timeout: 5_000,
        })
        .toBe(1_000);
    } finally {
      stream.cancel();
      stream.close();
      await sidecar.close();
      await proxy.close();
    }
  });
});
