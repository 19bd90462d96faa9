import Stripe from "stripe";
import { afterAll, beforeEach, describe, expect, test } from "vitest";
import { manualClock, type StripeEmulator, startStripeEmulator } from "../src/index.js";

// Event summaries, what finance reconciles against: the meter formula per customer over
// [start_time, end_time), optionally per hour or day, newest window first.

const HOUR = 3600;
const DAY_START = Date.UTC(2026, 0, 15) / 1000;
const at = (hh: number, mm = 0, ss = 0) => DAY_START + hh * HOUR + mm * 60 + ss;
const clock = manualClock(at(12) * 1000);

const emulator: StripeEmulator = await startStripeEmulator({
  now: clock.now,
  meters: [
    { eventName: "api_requests", id: "mtr_sum" },
    { eventName: "calls", id: "mtr_count", formula: "count" },
    { eventName: "seats", id: "mtr_last", formula: "last" },
    { eventName: "hourly_total", id: "mtr_window", eventTimeWindow: "hour" },
  ],
});
const stripe = new Stripe(emulator.apiKey, { ...emulator.sdkConfig, maxNetworkRetries: 0, telemetry: false });

afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

async function send(eventName: string, customer: string, value: number, timestamp: number) {
  await stripe.billing.meterEvents.create({
    event_name: eventName,
    payload: { stripe_customer_id: customer, value: String(value) },
    timestamp,
  });
}

const windows = (list: Stripe.Billing.MeterEventSummary[]) =>
  list.map((s) => [s.start_time, s.end_time, s.aggregated_value]);

async function seedRequests() {
  await send("api_requests", "cus_1", 5, at(9, 10));
  await send("api_requests", "cus_1", 3, at(9, 50));
  await send("api_requests", "cus_2", 100, at(9, 30));
  await send("api_requests", "cus_1", 7, at(10, 5));
  await send("api_requests", "cus_1", 1, at(11, 59, 59));
  await send("api_requests", "cus_1", 50, at(12));
}

describe("totals per customer", () => {
  test("per hour, newest first, only the asked customer, end exclusive", async () => {
    await seedRequests();

    const page = await stripe.billing.meters.listEventSummaries("mtr_sum", {
      customer: "cus_1",
      start_time: at(9),
      end_time: at(12),
      value_grouping_window: "hour",
    });

    expect(page.object).toBe("list");
    expect(page.url).toBe("/v1/billing/meters/mtr_sum/event_summaries");
    expect(page.data.every((s) => s.object === "billing.meter_event_summary" && s.meter === "mtr_sum")).toBe(
      true,
    );
    expect(windows(page.data)).toEqual([
      [at(11), at(12), 1],
      [at(10), at(11), 7],
      [at(9), at(10), 8],
    ]);
  });

  test("without a grouping window, one summary for the whole range", async () => {
    await seedRequests();

    const page = await stripe.billing.meters.listEventSummaries("mtr_sum", {
      customer: "cus_2",
      start_time: at(0),
      end_time: at(13),
    });

    expect(windows(page.data)).toEqual([[at(0), at(13), 100]]);
  });

  test("per day, aligned to 00:00 UTC", async () => {
    await seedRequests();

    const page = await stripe.billing.meters.listEventSummaries("mtr_sum", {
      customer: "cus_1",
      start_time: DAY_START - 86_400,
      end_time: DAY_START + 86_400,
      value_grouping_window: "day",
    });

    expect(windows(page.data)).toEqual([[DAY_START, DAY_START + 86_400, 66]]);
  });

  test("pages with limit and starting_after, and the SDK's auto-pagination walks them", async () => {
    await seedRequests();
    const params = {
      customer: "cus_1",
      start_time: at(9),
      end_time: at(13),
      value_grouping_window: "hour",
    } as const;

    const first = await stripe.billing.meters.listEventSummaries("mtr_sum", { ...params, limit: 2 });
    const all = await stripe.billing.meters
      .listEventSummaries("mtr_sum", { ...params, limit: 2 })
      .autoPagingToArray({
        limit: 10,
      });

    expect(first.has_more).toBe(true);
    expect(first.data.map((s) => s.start_time)).toEqual([at(12), at(11)]);
    expect(all.map((s) => s.aggregated_value)).toEqual([50, 1, 7, 8]);
  });
});

describe("meter formulas", () => {
  test("count counts events and last takes the latest value in each window", async () => {
    for (const [minute, value] of [
      [5, 4],
      [40, 9],
      [20, 6],
    ] as const) {
      await send("calls", "cus_1", value, at(10, minute));
      await send("seats", "cus_1", value, at(10, minute));
    }
    const query = { customer: "cus_1", start_time: at(10), end_time: at(11) };

    const count = await stripe.billing.meters.listEventSummaries("mtr_count", query);
    const last = await stripe.billing.meters.listEventSummaries("mtr_last", query);

    expect(count.data[0]?.aggregated_value).toBe(3);
    expect(last.data[0]?.aggregated_value).toBe(9);
  });

  test("with an hourly event_time_window a newer event overwrites the hour's earlier one", async () => {
    await send("hourly_total", "cus_1", 10, at(10, 5));
    await send("hourly_total", "cus_1", 25, at(10, 30));
    await send("hourly_total", "cus_1", 4, at(11, 1));

    const page = await stripe.billing.meters.listEventSummaries("mtr_window", {
      customer: "cus_1",
      start_time: at(10),
      end_time: at(12),
    });

    expect(page.data[0]?.aggregated_value).toBe(29);
    expect(emulator.total("hourly_total", "cus_1")).toBe(29);
  });
});

describe("query rules", () => {
  test.each([
    ["a start_time off the minute", { start_time: at(9) + 30, end_time: at(10) }, "start_time"],
    [
      "an hourly range off the hour",
      { start_time: at(9, 30), end_time: at(10), value_grouping_window: "hour" },
      "start_time",
    ],
    ["an end before the start", { start_time: at(10), end_time: at(9) }, "end_time"],
  ] as const)("%s is a 400", async (_case, times, param) => {
    const error = await stripe.billing.meters
      .listEventSummaries("mtr_sum", { customer: "cus_1", ...times })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 400, param });
  });

  test("events stay out of summaries while Stripe is still aggregating them", async () => {
    const lagging = await startStripeEmulator({
      now: clock.now,
      meters: [{ eventName: "e", id: "mtr_e" }],
      summaryLagMs: 60_000,
    });
    const client = new Stripe(lagging.apiKey, {
      ...lagging.sdkConfig,
      maxNetworkRetries: 0,
      telemetry: false,
    });
    const query = { customer: "cus_1", start_time: at(11), end_time: at(13) };
    try {
      await client.billing.meterEvents.create({
        event_name: "e",
        payload: { stripe_customer_id: "cus_1", value: "3" },
      });
      const before = await client.billing.meters.listEventSummaries("mtr_e", query);
      clock.advance(60_000);
      const after = await client.billing.meters.listEventSummaries("mtr_e", query);

      expect(before.data).toEqual([]);
      expect(after.data[0]?.aggregated_value).toBe(3);
    } finally {
      clock.set(at(12) * 1000);
      await lagging.close();
    }
  });
});
