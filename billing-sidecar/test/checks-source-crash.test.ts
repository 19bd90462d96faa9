import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createLogger } from "@gateway/common";
import { createDb } from "@gateway/db";
import { startStripeEmulator } from "@gateway/testing";
import pg from "pg";
import { addAuthzCounts } from "../../api-key-service/src/authz/usage.repository.js";
import { loadConfig } from "../src/config.js";
import { createSidecar } from "../src/main.js";
import { describe, expect, test } from "./fixtures.js";

const EVENT = "api_requests";
const MINUTE = 60_000;
const entry = fileURLToPath(new URL("../src/run.ts", import.meta.url));

describe("BILLING_SOURCE=checks: a sidecar killed mid-batch", () => {
  test("commits none of the batch, and the next sidecar bills it once", async ({ services }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 4 });
    pool.on("error", () => {});
    const db = createDb({ url: services.databaseUrl, onError: () => {} });
    const query = async (text: string, values: unknown[] = []) => (await pool.query(text, values)).rows;
    const usage = async () =>
      (
        await query(`select key_id, requests::int, billable_units::int from usage_minutes order by key_id`)
      ).map((r) => [r.key_id, r.requests, r.billable_units]);
    const env = {
      DATABASE_URL: services.databaseUrl,
      ALS_PORT: "0",
      HTTP_PORT: "0",
      HOST: "127.0.0.1",
      BILLING_SOURCE: "checks",
      CHECKS_POLL_INTERVAL: "100ms",
      CHECKS_BILL_FROM: new Date(Date.now() - 3_600_000).toISOString(),
      STRIPE_API_KEY: emulator.apiKey,
      STRIPE_API_BASE: emulator.url,
      STRIPE_SEND_INTERVAL: "1h",
    };
    let child: ChildProcess | undefined;
    const blocker = await pool.connect();
    try {
      for (const [id, user, customer] of [
        ["key_a", "ada", "cus_Ada"],
        ["key_b", "bo", "cus_Bo"],
        ["key_c", "cy", "cus_Cy"],
      ] as const) {
        await query("insert into users (user_id, stripe_customer_id) values ($1, $2)", [user, customer]);
        await query(
          `insert into api_keys (id, user_id, name, key_hash, key_start) values ($1, $2, 'test', $3, 'gw_test')`,
          [id, user, `hash-${id}`],
        );
      }
      const minute = Date.now() - (Date.now() % MINUTE) - 5 * MINUTE;
      const count = (keyId: string, allowed: number, units: number) =>
        addAuthzCounts(db, [{ keyId, minuteMs: minute, allowed, denied: 0, allowedUnits: units }]);
      // key_b's usage row exists already: a first sidecar took it.
      await count("key_b", 1, 2);
      const first = createSidecar(loadConfig({ ...env, CHECKS_POLL_INTERVAL: "5s" }), {
        logger: createLogger({ service: "billing-sidecar", level: "silent" }),
      });
      await first.flush();
      await first.stop();
      expect(await usage()).toEqual([["key_b", 1, 2]]);

      // More for all three; the test holds key_b's usage row, so a pass stops in the middle of its batch.
      await count("key_a", 3, 30);
      await count("key_b", 2, 4);
      await count("key_c", 1, 5);
      await blocker.query("begin");
      await blocker.query("select * from usage_minutes where key_id = 'key_b' for update");

      child = spawn(process.execPath, ["--import", "tsx", entry], {
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let output = "";
      child.stdout?.on("data", (d) => (output += d));
      child.stderr?.on("data", (d) => (output += d));
      const exited = new Promise<void>((resolve) => child?.on("exit", () => resolve()));
      const waiting = async () =>
        Number(
          (
            await query(
              `select count(*)::int as n from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock' and query like '%insert into usage_minutes%'`,
            )
          )[0].n,
        );
      await expect
        .poll(waiting, { timeout: 15_000 })
        .toBe(1)
        .catch((err: Error) => {
          throw new Error(`no pass blocked on the held row; the sidecar said:\n${output}`, { cause: err });
        });

      child.kill("SIGKILL");
      await exited;
      await blocker.query("commit");
      // The killed pass's connection is gone with its open transaction: none of the batch is kept.
      await expect.poll(waiting).toBe(0);
      await expect
        .poll(async () =>
          Number(
            (
              await query(
                `select count(*)::int as n from pg_stat_activity
                  where datname = current_database() and state like 'idle in transaction%'`,
              )
            )[0].n,
          ),
        )
        .toBe(0);
      expect(await usage()).toEqual([["key_b", 1, 2]]);

      const next = createSidecar(loadConfig({ ...env, CHECKS_POLL_INTERVAL: "5s" }), {
        logger: createLogger({ service: "billing-sidecar", level: "silent" }),
      });
      try {
        for (let i = 0; i < 2; i++) {
          await next.flush();
          await next.sendToStripe();
        }
      } finally {
        await next.stop();
      }
      await emulator.settled();
      expect(await usage()).toEqual([
        ["key_a", 3, 30],
        ["key_b", 3, 6],
        ["key_c", 1, 5],
      ]);
      const totals: Record<string, number> = {};
      for (const e of emulator.events()) totals[e.customer] = (totals[e.customer] ?? 0) + Number(e.value);
      expect(totals).toEqual({ cus_Ada: 30, cus_Bo: 6, cus_Cy: 5 });
    } finally {
      child?.kill("SIGKILL");
      blocker.release();
      await db.destroy();
      await pool.end();
      await emulator.close();
    }
  }, 60_000);
});
