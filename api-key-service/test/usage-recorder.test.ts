import { createLogger } from "@gateway/common";
import { createDb } from "@gateway/db";
import { describe, expect, test } from "@gateway/testing";
import pg from "pg";
import { Registry } from "prom-client";
import { AuthzMetrics } from "../src/authz/metrics.js";
import { UsageRecorder } from "../src/authz/usage-recorder.js";

const MINUTE = 60_000;

describe("UsageRecorder", () => {
  test("a flush asked for while one is writing also writes what was recorded after that one began", async ({
    services,
  }) => {
    const db = createDb({ url: services.databaseUrl, onError: () => {} });
    const blocker = new pg.Client({ connectionString: services.databaseUrl });
    await blocker.connect();
    const recorder = new UsageRecorder(
      db,
      new AuthzMetrics(new Registry()),
      createLogger({ service: "test", level: "silent" }),
      { flushIntervalMs: 3_600_000, maxPending: 1_000 },
    );
    const now = Date.now();
    const minute = new Date(now - (now % MINUTE));
    try {
      // The row the first write updates is locked by another transaction: that write waits.
      await blocker.query("begin");
      await blocker.query(
        "insert into authz_counts (key_id, minute, allowed, denied, allowed_units) values ('key_a', $1, 0, 0, 0)",
        [minute],
      );
      recorder.record("key_a", true, now);
      const first = recorder.flush();
      await new Promise((resolve) => setTimeout(resolve, 200));
      recorder.record("key_b", true, now);
      recorder.record("key_a", false, now);
      const second = recorder.flush();
      await blocker.query("commit");
      await Promise.all([first, second]);

      const { rows } = await blocker.query(
        "select key_id, allowed::int, denied::int from authz_counts order by key_id",
      );
      expect(rows).toEqual([
        { key_id: "key_a", allowed: 1, denied: 1 },
        { key_id: "key_b", allowed: 1, denied: 0 },
      ]);
    } finally {
      await recorder.stop();
      await blocker.end();
      await db.destroy();
    }
  });
});
