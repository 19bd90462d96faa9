import { createDb } from "@gateway/db";
import { startStripeEmulator } from "@gateway/testing";
import { createStripe } from "../src/stripe/meter-client.js";
import { reconcile } from "../src/stripe/reconcile.js";
import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, type RunningSidecar, sample, startSidecar, test } from "./fixtures.js";

const MINUTE = Math.floor(Date.UTC(2026, 10, 21, 12, 0, 0) / 1000);
const EVENT = "api_requests";

async function usageOf(sidecar: RunningSidecar, keyId: string) {
  return sidecar.query(
    `select requests::int, billable_requests::int, billable_units::int, status_2xx::int, status_5xx::int
       from usage_minutes where key_id = $1 order by minute`,
    [keyId],
  );
}

const entriesTotal = async (sidecar: RunningSidecar, result: string) =>
  sample(await sidecar.metricsText(), `als_entries_total{result="${result}"}`);
const invalidUnits = async (sidecar: RunningSidecar) =>
  sample(await sidecar.metricsText(), "sidecar_invalid_units_total");
const invalidUnitsWarnings = (sidecar: RunningSidecar) =>
  sidecar.logs.filter((l) => l.includes("access-log entries with invalid units")).map((l) => JSON.parse(l));

describe("units: what a request costs", () => {
  test("billable entries add their units, absent units count 1, entries that are not billable add none", async ({
    sidecar,
  }) => {
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      const entry = (code: number | undefined, units?: string) =>
        httpEntry({
          keyId: "key_u",
          userId: "ursula",
          ...(code === undefined ? {} : { code }),
          ...(units === undefined ? {} : { units }),
          startSeconds: MINUTE,
        });
      stream.send([
        entry(200, "20"),
        entry(201, "5"),
        entry(404, "3"), // answered below 500: billable, with its cost
        entry(200), // from before costs: one unit
        entry(200, "1000000"), // the most one request may cost
        entry(503, "20"), // 5xx: a request, not billable, no units
        entry(undefined, "7"), // Envoy produced no response: a request, not billable, no units
        httpEntry({
          keyId: "key_u",
          userId: "ursula",
          code: 429,
          denied: "rate_limited",
          startSeconds: MINUTE,
        }),
      ]);
      await expect.poll(() => entriesTotal(sidecar, "not_billable")).toBe(2);
      expect(await entriesTotal(sidecar, "billed")).toBe(5);
      expect(await entriesTotal(sidecar, "denied")).toBe(1);
      await sidecar.flush();
      expect(await usageOf(sidecar, "key_u")).toEqual([
        {
          requests: 7,
          billable_requests: 5,
          billable_units: 20 + 5 + 3 + 1 + 1_000_000,
          status_2xx: 4,
          status_5xx: 1,
        },
      ]);
      expect(await invalidUnits(sidecar)).toBe(0);
      expect(invalidUnitsWarnings(sidecar)).toEqual([]);

      // A second batch for the same key and minute adds to the row.
      stream.send([entry(200, "20")]);
      await expect.poll(() => entriesTotal(sidecar, "billed")).toBe(6);
      await sidecar.flush();
      expect(await usageOf(sidecar, "key_u")).toMatchObject([
        { requests: 8, billable_requests: 6, billable_units: 1_000_049 },
      ]);
    } finally {
      stream.cancel();
      stream.close();
    }
  });

  test("invalid units are counted in sidecar_invalid_units_total and billed as 1, one warning per message", async ({
    sidecar,
  }) => {
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      const invalid: (string | object)[] = [
        "0",
        "1000001",
        "2.5",
        "-3",
        "+4",
        "020",
        " 7",
        "1e3",
        "",
        "abc",
        "9".repeat(400),
        { numberValue: 20 }, // the contract is a stringValue
        { boolValue: true },
        { nullValue: "NULL_VALUE" },
        { structValue: { fields: { units: { stringValue: "20" } } } },
        {}, // a Value with no kind at all
      ];
      stream.send([
        ...invalid.map((units) =>
          httpEntry({ keyId: "key_bad", userId: "u", code: 200, units, startSeconds: MINUTE }),
        ),
        httpEntry({ keyId: "key_bad", userId: "u", code: 200, units: "9", startSeconds: MINUTE }),
        httpEntry({ keyId: "key_bad", userId: "u", code: 502, units: "x", startSeconds: MINUTE }),
      ]);
      await expect.poll(() => invalidUnits(sidecar)).toBe(invalid.length + 1);
      stream.send([
        httpEntry({ keyId: "key_bad", userId: "u", code: 200, units: "0", startSeconds: MINUTE }),
      ]);
      await expect.poll(() => invalidUnits(sidecar)).toBe(invalid.length + 2);

      // Nothing dropped: every entry is a request, each invalid billable one is one unit.
      expect(await entriesTotal(sidecar, "billed")).toBe(invalid.length + 2);
      expect(await entriesTotal(sidecar, "not_billable")).toBe(1);
      await sidecar.flush();
      expect(await usageOf(sidecar, "key_bad")).toEqual([
        {
          requests: invalid.length + 3,
          billable_requests: invalid.length + 2,
          billable_units: invalid.length + 9 + 1,
          status_2xx: invalid.length + 2,
          status_5xx: 1,
        },
      ]);
      const warnings = invalidUnitsWarnings(sidecar);
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toMatchObject({ level: 40, entries: invalid.length + 1, api_key_id: "key_bad" });
      expect(warnings[0].units.length).toBeLessThanOrEqual(80);
      expect(warnings[1]).toMatchObject({ entries: 1, units: '{"stringValue":"0"}' });
    } finally {
      stream.cancel();
      stream.close();
    }
  });

  test("Stripe receives each customer's billable units per window, once, and reconciles units with units", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const sidecar = await startSidecar(services, {
      STRIPE_API_KEY: emulator.apiKey,
      STRIPE_API_BASE: emulator.url,
      STRIPE_METER_EVENT_NAME: EVENT,
    });
    const stream = envoyAlsStream(sidecar.alsPort);
    const db = createDb({ url: services.databaseUrl, max: 1 });
    try {
      // Three minutes ago: the one-minute window has closed and settled by now.
      const startSeconds = Math.floor(Date.now() / 60_000) * 60 - 180;
      const entry = (customer: string, code: number, units?: string, keyId = `key_${customer}`) =>
        httpEntry({
          keyId,
          userId: "u",
          customer,
          code,
          ...(units === undefined ? {} : { units }),
          startSeconds,
        });
      stream.send([
        entry("cus_A", 200, "20"),
        entry("cus_A", 200, "20"),
        entry("cus_A", 200, "20", "key_cus_A_2"), // another key of the same customer
        entry("cus_A", 500, "20"), // not billable: not sent
        entry("cus_A", 200), // no units: 1
        entry("cus_B", 200, "abc"), // invalid: 1
        entry("cus_B", 200, "7"),
      ]);
      await expect
        .poll(
          async () =>
            (await sidecar.query("select coalesce(sum(requests), 0)::int as n from usage_minutes"))[0].n,
        )
        .toBe(7);
      await sidecar.sendToStripe();
      await sidecar.sendToStripe(); // a second pass finds nothing new to send
      await emulator.settled();

      expect(
        emulator
          .totals()
          .map((t) => [t.customer, t.value])
          .sort(),
      ).toEqual([
        ["cus_A", 61],
        ["cus_B", 8],
      ]);
      const events = emulator.events();
      expect(events.map((e) => [e.customer, e.value]).sort()).toEqual([
        ["cus_A", "61"],
        ["cus_B", "8"],
      ]);
      expect(new Set(events.map((e) => e.identifier)).size).toBe(2);
      const outbox = await sidecar.query(
        "select stripe_customer_id as customer, value::int, status from stripe_outbox order by 1",
      );
      expect(outbox).toEqual([
        { customer: "cus_A", value: 61, status: "sent" },
        { customer: "cus_B", value: 8, status: "sent" },
      ]);

      // Late usage for the same window goes out as the difference in units.
      stream.send([entry("cus_A", 200, "4")]);
      await expect
        .poll(
          async () =>
            (await sidecar.query("select coalesce(sum(requests), 0)::int as n from usage_minutes"))[0].n,
        )
        .toBe(8);
      await sidecar.sendToStripe();
      await emulator.settled();
      expect(emulator.total(EVENT, "cus_A")).toBe(65);
      expect(emulator.events()).toHaveLength(3);

      const hour = Math.floor((startSeconds * 1000) / 3_600_000) * 3_600_000;
      const report = await reconcile(
        db,
        createStripe(emulator.apiKey, emulator.url),
        EVENT,
        new Date(hour),
        new Date(hour + 3_600_000),
      );
      expect(report.mismatches).toBe(0);
      expect(report.rows.map((r) => [r.customer, r.sent, r.stripe])).toEqual([
        ["cus_A", 65, 65],
        ["cus_B", 8, 8],
      ]);
    } finally {
      stream.cancel();
      stream.close();
      await db.destroy();
      await sidecar.close();
      await emulator.close();
    }
  });
});
