import { Writable } from "node:stream";
import { createLogger } from "@gateway/common";
import { createDb } from "@gateway/db";
import { type StripeEmulator, startStripeEmulator, type TestServices } from "@gateway/testing";
import pg from "pg";
import { addAuthzCounts } from "../../api-key-service/src/authz/usage.repository.js";
import { bearer, envoyCheckRequest } from "../../api-key-service/test/envoy.js";
import { startApi } from "../../api-key-service/test/fixtures.js";
import { takeSettledCounts } from "../src/checks-source/checks.repository.js";
import { loadConfig } from "../src/config.js";
import { createSidecar, type Sidecar } from "../src/main.js";
import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, sample, test } from "./fixtures.js";

const EVENT = "api_requests";
const MINUTE = 60_000;
const minuteOf = (ms: number) => ms - (ms % MINUTE);

interface ChecksSidecar extends Sidecar {
  alsPort: number;
  logs: string[];
  metricsText(): Promise<string>;
}

/**
 * A sidecar in BILLING_SOURCE=checks mode against the test's database and a Stripe emulator. Tests run
 * passes themselves (flush, sendToStripe) beside the poller's own every CHECKS_POLL_INTERVAL (5 s);
 * `now` is its clock.
 */
async function startChecksSidecar(
  services: TestServices,
  emulator: StripeEmulator,
  env: Record<string, string> = {},
  now?: () => number,
): Promise<ChecksSidecar> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    DATABASE_URL: services.databaseUrl,
    ALS_PORT: "0",
    HTTP_PORT: "0",
    HOST: "127.0.0.1",
    BILLING_SOURCE: "checks",
    CHECKS_BILL_FROM: new Date(Date.now() - 86_400_000).toISOString(),
    STRIPE_API_KEY: emulator.apiKey,
    STRIPE_API_BASE: emulator.url,
    STRIPE_METER_EVENT_NAME: EVENT,
    STRIPE_SEND_INTERVAL: "1h",
    ...env,
  });
  const sidecar = createSidecar(config, {
    logger: createLogger({ service: "billing-sidecar", level: "info", destination }),
    ...(now ? { now } : {}),
  });
  const { alsPort, httpPort } = await sidecar.start();
  return {
    ...sidecar,
    alsPort,
    logs,
    metricsText: async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
  };
}

/** The test's own connection, for fixtures and for reading what the sidecar wrote. */
function connect(services: TestServices) {
  const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 4 });
  pool.on("error", () => {});
  const db = createDb({ url: services.databaseUrl, onError: () => {} });
  return {
    db,
    pool,
    query: async (text: string, values: unknown[] = []) => (await pool.query(text, values)).rows,
    async addKey(id: string, userId: string, userCustomer: string | null, keyCustomer: string | null = null) {
      await pool.query(
        `insert into users (user_id, stripe_customer_id) values ($1, $2)
         on conflict (user_id) do nothing`,
        [userId, userCustomer],
      );
      await pool.query(
        `insert into api_keys (id, user_id, name, key_hash, key_start, stripe_customer_id)
         values ($1, $2, 'test', $3, 'gw_test', $4)`,
        [id, userId, `hash-${id}`, keyCustomer],
      );
    },
    /** Per key and minute: [requests, billable requests, billable units, customer]. */
    async usage() {
      const rows = await this.query(
        `select key_id, minute, requests::int, billable_requests::int, billable_units::int, stripe_customer_id
           from usage_minutes order by key_id, minute`,
      );
      return rows.map((r) => ({
        key: r.key_id,
        minute: r.minute.getTime(),
        requests: r.requests,
        billable: r.billable_requests,
        units: r.billable_units,
        customer: r.stripe_customer_id,
      }));
    },
    async close() {
      await db.destroy();
      await pool.end();
    },
  };
}

const totalsByCustomer = (emulator: StripeEmulator) => {
  const totals: Record<string, number> = {};
  for (const e of emulator.events()) totals[e.customer] = (totals[e.customer] ?? 0) + Number(e.value);
  return totals;
};

describe("BILLING_SOURCE=checks", () => {
  test("allowed checks of api-key-service are billed once per window and customer, at their units; customerless usage is unbilled; access-log entries bill nothing", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const api = await startApi(services, { AUTHZ_FLUSH_INTERVAL: "100ms" });
    let sidecar: ChecksSidecar | undefined;
    try {
      expect(
        (await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Acme" } })).status,
      ).toBe(200);
      const acme = await api.createKey({ user_id: "acme", rate_limit_per_minute: 1_000 });
      const own = await api.createKey({
        user_id: "acme",
        stripe_customer_id: "cus_Own",
        rate_limit_per_minute: 1_000,
      });
      const trial = await api.createKey({ user_id: "trial", rate_limit_per_minute: 1_000 });
      const limited = await api.createKey({ user_id: "acme", rate_limit_per_minute: 1 });
      const check = async (key: string, cost: string) =>
        (await api.check(envoyCheckRequest({ headers: bearer(key), contextExtensions: { cost } }))).status
          ?.code;
      // The checks below must fall in one minute: skip the last seconds of this one.
      if (Date.now() % MINUTE > 45_000)
        await new Promise((r) => setTimeout(r, MINUTE - (Date.now() % MINUTE)));
      const minute = minuteOf(Date.now());
      for (let i = 0; i < 3; i++) expect(await check(acme.key, "5")).toBe(0);
      for (let i = 0; i < 2; i++) expect(await check(own.key, "1")).toBe(0);
      for (let i = 0; i < 4; i++) expect(await check(trial.key, "2")).toBe(0);
      expect(await check(limited.key, "1")).toBe(0);
      expect(await check(limited.key, "1")).not.toBe(0); // over its limit: denied, not billed
      expect(minuteOf(Date.now())).toBe(minute);
      await api.stop(); // writes what it counted to authz_counts

      // The sidecar's clock is two minutes ahead, so that this minute has ended and settled.
      const running = await startChecksSidecar(services, emulator, {}, () => Date.now() + 2 * MINUTE);
      sidecar = running;
      const db = connect(services);
      try {
        await sidecar.flush();
        expect(await db.usage()).toEqual(
          [
            { key: acme.id, minute, requests: 3, billable: 3, units: 15, customer: "cus_Acme" },
            { key: own.id, minute, requests: 2, billable: 2, units: 2, customer: "cus_Own" },
            { key: trial.id, minute, requests: 4, billable: 4, units: 8, customer: null },
            { key: limited.id, minute, requests: 1, billable: 1, units: 1, customer: "cus_Acme" },
          ].sort((a, b) => (a.key < b.key ? -1 : 1)),
        );
        const [row] = await db.query(`select user_id from usage_minutes where key_id = $1`, [trial.id]);
        expect(row.user_id).toBe("trial");

        await sidecar.sendToStripe();
        await emulator.settled();
        const events = emulator.events().map((e) => [e.customer, e.value, e.timestamp]);
        expect(events.sort()).toEqual([
          ["cus_Acme", "16", minute / 1000],
          ["cus_Own", "2", minute / 1000],
        ]);
        expect(sample(await sidecar.metricsText(), "billing_unbilled_units")).toBe(8);

        // Envoy's access log for the same requests, sent to this sidecar: counted, not billed.
        const stream = envoyAlsStream(sidecar.alsPort);
        stream.send(
          Array.from({ length: 5 }, () =>
            httpEntry({ keyId: acme.id, userId: "acme", customer: "cus_Acme", code: 200, units: "5" }),
          ),
        );
        await expect
          .poll(async () =>
            sample(await running.metricsText(), 'als_entries_total{result="ignored_checks_source"}'),
          )
          .toBe(5);
        stream.cancel();
        stream.close();
        expect(sidecar.logs.join("")).toContain("access-log entries are not billed");

        // Taking and sending again changes nothing.
        await sidecar.flush();
        await sidecar.sendToStripe();
        await emulator.settled();
        expect(emulator.events()).toHaveLength(2);
        expect((await db.usage()).reduce((sum, r) => sum + r.units, 0)).toBe(26);
      } finally {
        await db.close();
      }
    } finally {
      await sidecar?.stop();
      await api.stop().catch(() => {});
      await emulator.close();
    }
  }, 90_000);

  test("a late flush into a minute already taken and billed is billed once, as a further event; so is one hours late", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const db = connect(services);
    const sidecar = await startChecksSidecar(services, emulator);
    try {
      await db.addKey("key_a", "ann", "cus_Ann");
      const minute = minuteOf(Date.now()) - 10 * MINUTE;
      await addAuthzCounts(db.db, [
        { keyId: "key_a", minuteMs: minute, allowed: 4, denied: 1, allowedUnits: 12 },
      ]);
      await sidecar.flush();
      await sidecar.sendToStripe();
      await emulator.settled();
      expect(emulator.events().map((e) => e.value)).toEqual(["12"]);

      // A replica whose flush failed writes its counts for that minute now.
      await addAuthzCounts(db.db, [
        { keyId: "key_a", minuteMs: minute, allowed: 2, denied: 0, allowedUnits: 6 },
      ]);
      // And one that was cut off from Postgres for three hours.
      const old = minuteOf(Date.now()) - 180 * MINUTE;
      await addAuthzCounts(db.db, [
        { keyId: "key_a", minuteMs: old, allowed: 1, denied: 0, allowedUnits: 7 },
      ]);
      for (let i = 0; i < 2; i++) {
        await sidecar.flush();
        await sidecar.sendToStripe();
      }
      await emulator.settled();
      expect(await db.usage()).toEqual([
        { key: "key_a", minute: old, requests: 1, billable: 1, units: 7, customer: "cus_Ann" },
        { key: "key_a", minute, requests: 6, billable: 6, units: 18, customer: "cus_Ann" },
      ]);
      const events = emulator.events().map((e) => [e.value, e.timestamp, e.identifier.split(":").at(-1)]);
      expect(events.sort()).toEqual([
        ["12", minute / 1000, "0"],
        ["6", minute / 1000, "1"],
        ["7", old / 1000, "0"],
      ]);
    } finally {
      await sidecar.stop();
      await db.close();
      await emulator.close();
    }
  });

  test("customerless usage is backfilled once its user has a customer; a late flush after that is billed once more", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const db = connect(services);
    const sidecar = await startChecksSidecar(services, emulator);
    try {
      await db.addKey("key_t", "tess", null);
      const minute = minuteOf(Date.now()) - 5 * MINUTE;
      await addAuthzCounts(db.db, [
        { keyId: "key_t", minuteMs: minute, allowed: 3, denied: 0, allowedUnits: 9 },
      ]);
      await sidecar.flush();
      await sidecar.sendToStripe();
      expect(emulator.events()).toEqual([]);
      expect(sample(await sidecar.metricsText(), "billing_unbilled_units")).toBe(9);
      expect(sample(await sidecar.metricsText(), "checks_source_unbilled_units_total")).toBe(9);

      await db.query(`update users set stripe_customer_id = 'cus_Tess' where user_id = 'tess'`);
      await sidecar.sendToStripe();
      await addAuthzCounts(db.db, [
        { keyId: "key_t", minuteMs: minute, allowed: 1, denied: 0, allowedUnits: 3 },
      ]);
      await sidecar.flush();
      await sidecar.sendToStripe();
      await sidecar.flush();
      await sidecar.sendToStripe();
      await emulator.settled();
      expect(emulator.events().map((e) => [e.value, e.identifier.startsWith("bf:")])).toEqual([
        ["9", true],
        ["3", false],
      ]);
      expect(totalsByCustomer(emulator)).toEqual({ cus_Tess: 12 });
      expect(sample(await sidecar.metricsText(), "billing_unbilled_units")).toBe(0);
    } finally {
      await sidecar.stop();
      await db.close();
      await emulator.close();
    }
  });

  test("two replicas taking while api-key-service replicas flush bill every unit once", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const db = connect(services);
    const env = { CHECKS_POLL_INTERVAL: "20ms", CHECKS_SETTLE: "0s" };
    const replicas = [
      await startChecksSidecar(services, emulator, env),
      await startChecksSidecar(services, emulator, env),
    ];
    try {
      await db.addKey("key_1", "u1", "cus_One");
      await db.addKey("key_2", "u2", "cus_Two");
      await db.addKey("key_3", "u1", "cus_One");
      const now = minuteOf(Date.now());
      const minutes = [now - 4 * MINUTE, now - 3 * MINUTE, now - 2 * MINUTE];
      const written: Record<string, number> = {};
      // Two writers (two api-key-service replicas) flushing into the same minutes for ~1.5 s.
      const writer = async (seed: number) => {
        const started = Date.now();
        let i = seed;
        while (Date.now() - started < 1_500) {
          i += 1;
          const keyId = `key_${(i % 3) + 1}`;
          const minuteMs = minutes[i % minutes.length] as number;
          const units = (i % 4) + 1;
          await addAuthzCounts(db.db, [{ keyId, minuteMs, allowed: 1, denied: 0, allowedUnits: units }]);
          const customer = keyId === "key_2" ? "cus_Two" : "cus_One";
          written[customer] = (written[customer] ?? 0) + units;
          await new Promise((r) => setTimeout(r, 3));
        }
      };
      await Promise.all([writer(0), writer(7), ...replicas.map((r) => r.sendToStripe())]);
      // Meanwhile both replicas polled; now both take and send again, at once.
      await Promise.all(replicas.map((r) => r.flush()));
      await Promise.all(replicas.map((r) => r.sendToStripe()));
      await Promise.all(replicas.map((r) => r.sendToStripe()));
      await emulator.settled();

      const counts = await db.query(
        `select key_id, minute, allowed::int, allowed_units::int from authz_counts order by key_id, minute`,
      );
      expect((await db.usage()).map((r) => [r.key, r.minute, r.requests, r.units])).toEqual(
        counts.map((c) => [c.key_id, c.minute.getTime(), c.allowed, c.allowed_units]),
      );
      expect(totalsByCustomer(emulator)).toEqual(written);
      const identifiers = emulator.events().map((e) => e.identifier);
      expect(new Set(identifiers).size).toBe(identifiers.length);
      const passes = await Promise.all(replicas.map((r) => r.metricsText()));
      console.info(
        `checks passes taken/busy per replica: ${passes
          .map(
            (m) =>
              `${sample(m, 'checks_source_passes_total{result="taken"}')}/${sample(m, 'checks_source_passes_total{result="busy"}')}`,
          )
          .join(", ")}`,
      );
    } finally {
      await Promise.all(replicas.map((r) => r.stop()));
      await db.close();
      await emulator.close();
    }
  });

  test("takes that run at once, without the cursor's lock, still raise each row to its count once", async ({
    services,
  }) => {
    const db = connect(services);
    try {
      await db.addKey("key_c", "cleo", "cus_Cleo");
      const minute = minuteOf(Date.now()) - 3 * MINUTE;
      const range = {
        updatedFrom: new Date(Date.now() - 3_600_000),
        billFrom: new Date(minute - MINUTE),
        settledAt: new Date(),
        limit: 1_000,
      };
      for (let round = 1; round <= 5; round++) {
        await addAuthzCounts(db.db, [
          { keyId: "key_c", minuteMs: minute, allowed: 1, denied: 0, allowedUnits: 3 },
        ]);
        const taken = await Promise.all(
          Array.from({ length: 4 }, () =>
            db.db.transaction().execute((trx) => takeSettledCounts(trx, range)),
          ),
        );
        expect(taken.reduce((sum, t) => sum + t.rows, 0)).toBeGreaterThanOrEqual(1);
        expect((await db.usage()).map((r) => [r.requests, r.units])).toEqual([[round, round * 3]]);
      }
    } finally {
      await db.close();
    }
  });

  test("billing starts at the cursor's first minute; access-log usage of the switch minute is raised, not added to", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const db = connect(services);
    await db.addKey("key_s", "sam", "cus_Sam");
    const now = minuteOf(Date.now());
    const switched = now - 5 * MINUTE;
    // The access log billed the switch minute before the change: 5 requests, 4 answered below 500.
    await db.query(
      `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests, billable_units, status_2xx, status_5xx)
       values ('key_s', $1, 'sam', 'cus_Sam', 5, 4, 4, 4, 1)`,
      [new Date(switched)],
    );
    const counts = (minuteMs: number, allowed: number) =>
      addAuthzCounts(db.db, [{ keyId: "key_s", minuteMs, allowed, denied: 0, allowedUnits: allowed }]);
    await counts(switched - MINUTE, 3); // before the switch: the access log's to bill
    await counts(switched, 5);
    await counts(switched + MINUTE, 2);
    let sidecar = await startChecksSidecar(services, emulator, {
      CHECKS_BILL_FROM: new Date(switched).toISOString(),
    });
    try {
      await sidecar.flush();
      await sidecar.stop();
      // Restarted with another CHECKS_BILL_FROM: the cursor's stands, and the log says so.
      sidecar = await startChecksSidecar(services, emulator, {
        CHECKS_BILL_FROM: new Date(switched - 60 * MINUTE).toISOString(),
      });
      await sidecar.flush();
      await sidecar.sendToStripe();
      await emulator.settled();
      expect(sidecar.logs.join("")).toContain("CHECKS_BILL_FROM differs");
      expect((await db.usage()).map((r) => [r.minute, r.requests, r.billable, r.units])).toEqual([
        [switched, 5, 5, 5],
        [switched + MINUTE, 2, 2, 2],
      ]);
      expect(totalsByCustomer(emulator)).toEqual({ cus_Sam: 7 });
    } finally {
      await sidecar.stop();
      await db.close();
      await emulator.close();
    }
  });

  test("without CHECKS_BILL_FROM, billing starts at the minute the first sidecar started in", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const db = connect(services);
    await db.addKey("key_f", "fay", "cus_Fay");
    const now = minuteOf(Date.now());
    await addAuthzCounts(db.db, [
      { keyId: "key_f", minuteMs: now - 3 * MINUTE, allowed: 3, denied: 0, allowedUnits: 3 },
    ]);
    // Its clock is two minutes ahead: the first minute it bills is two minutes from now.
    const sidecar = await startChecksSidecar(
      services,
      emulator,
      { CHECKS_BILL_FROM: "" },
      () => Date.now() + 2 * MINUTE,
    );
    try {
      await sidecar.flush();
      const [cursor] = await db.query("select bill_from from checks_cursor");
      expect(cursor.bill_from.getTime()).toBe(minuteOf(Date.now() + 2 * MINUTE));
      expect(await db.usage()).toEqual([]);
    } finally {
      await sidecar.stop();
      await db.close();
      await emulator.close();
    }
  });

  test("a sidecar started late in a minute bills that minute's checks, though its first pass comes after it", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const db = connect(services);
    await db.addKey("key_l", "lou", "cus_Lou");
    // Its clock is two minutes ahead (as above) and half a second before the end of a minute.
    const started = minuteOf(Date.now()) + 2 * MINUTE;
    let clock = started + MINUTE - 500;
    const sidecar = await startChecksSidecar(services, emulator, { CHECKS_BILL_FROM: "" }, () => clock);
    try {
      await addAuthzCounts(db.db, [
        { keyId: "key_l", minuteMs: started, allowed: 2, denied: 0, allowedUnits: 2 },
      ]);
      clock = started + 2 * MINUTE;
      await sidecar.flush();
      const [cursor] = await db.query("select bill_from from checks_cursor");
      expect(cursor.bill_from.getTime()).toBe(started);
      expect(await db.usage()).toEqual([
        { key: "key_l", minute: started, requests: 2, billable: 2, units: 2, customer: "cus_Lou" },
      ]);
    } finally {
      await sidecar.stop();
      await db.close();
      await emulator.close();
    }
  });

  test("the source is checked at start", () => {
    const base = { DATABASE_URL: "postgres://localhost/x" };
    expect(loadConfig(base).BILLING_SOURCE).toBe("access_log");
    expect(() => loadConfig({ ...base, BILLING_SOURCE: "envoy" })).toThrow(/BILLING_SOURCE/);
    expect(() => loadConfig({ ...base, CHECKS_BILL_FROM: "yesterday" })).toThrow(/CHECKS_BILL_FROM/);
    expect(() => loadConfig({ ...base, CHECKS_SETTLE: "soon" })).toThrow(/CHECKS_SETTLE/);
  });
});
