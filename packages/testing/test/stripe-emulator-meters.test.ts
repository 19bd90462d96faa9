import Stripe from "stripe";
import { afterAll, describe, expect, test } from "vitest";
import { type StripeEmulator, startStripeEmulator } from "../src/index.js";

// Billing meters as the official SDK creates, lists, renames and deactivates them.

const emulator: StripeEmulator = await startStripeEmulator();
afterAll(() => emulator.close());
const stripe = new Stripe(emulator.apiKey, { ...emulator.sdkConfig, maxNetworkRetries: 0, telemetry: false });

const failure = (promise: Promise<unknown>) => promise.catch((e: unknown) => e);

describe("billing meters", () => {
  test("a created meter has Stripe's shape and takes events at once", async () => {
    const meter = await stripe.billing.meters.create({
      display_name: "Search API calls",
      event_name: "search_calls",
      default_aggregation: { formula: "sum" },
      customer_mapping: { type: "by_id", event_payload_key: "customer" },
      value_settings: { event_payload_key: "units" },
    });

    expect(meter).toMatchObject({
      id: expect.stringMatching(/^mtr_/),
      object: "billing.meter",
      display_name: "Search API calls",
      event_name: "search_calls",
      default_aggregation: { formula: "sum" },
      customer_mapping: { type: "by_id", event_payload_key: "customer" },
      value_settings: { event_payload_key: "units" },
      event_time_window: null,
      status: "active",
      status_transitions: { deactivated_at: null },
      livemode: false,
    });
    await stripe.billing.meterEvents.create({
      event_name: "search_calls",
      payload: { customer: "cus_1", units: "4" },
    });
    expect(emulator.total("search_calls", "cus_1")).toBe(4);
  });

  test("payload keys default to stripe_customer_id and value", async () => {
    const meter = await stripe.billing.meters.create({
      display_name: "Defaults",
      event_name: "defaults",
      default_aggregation: { formula: "count" },
    });

    expect(meter.customer_mapping).toEqual({ type: "by_id", event_payload_key: "stripe_customer_id" });
    expect(meter.value_settings).toEqual({ event_payload_key: "value" });
  });

  test("listed newest first, filtered by status, and retrieved by id", async () => {
    const created = await stripe.billing.meters.create({
      display_name: "Listed",
      event_name: "listed",
      default_aggregation: { formula: "sum" },
    });

    const all = await stripe.billing.meters.list({ limit: 100 });
    expect(all.data[0]?.id).toBe(created.id);
    expect((await stripe.billing.meters.retrieve(created.id)).event_name).toBe("listed");
    await stripe.billing.meters.deactivate(created.id);
    const inactive = await stripe.billing.meters.list({ status: "inactive" });
    expect(inactive.data.map((m) => m.id)).toContain(created.id);
  });

  test("only the display name can be updated", async () => {
    const meter = await stripe.billing.meters.create({
      display_name: "Old name",
      event_name: "renamed",
      default_aggregation: { formula: "sum" },
    });

    const renamed = await stripe.billing.meters.update(meter.id, { display_name: "New name" });
    expect(renamed).toMatchObject({ display_name: "New name", event_name: "renamed" });
    const error = await failure(
      stripe.billing.meters.update(meter.id, { event_name: "other" } as Stripe.Billing.MeterUpdateParams),
    );
    expect(error).toMatchObject({ statusCode: 400, code: "parameter_unknown", param: "event_name" });
  });

  test("a deactivated meter refuses events until reactivated", async () => {
    const meter = await stripe.billing.meters.create({
      display_name: "Toggled",
      event_name: "toggled",
      default_aggregation: { formula: "sum" },
    });
    const send = () =>
      stripe.billing.meterEvents.create({
        event_name: "toggled",
        payload: { stripe_customer_id: "cus_1", value: "1" },
      });

    const deactivated = await stripe.billing.meters.deactivate(meter.id);
    expect(deactivated.status).toBe("inactive");
    expect(deactivated.status_transitions.deactivated_at).toEqual(expect.any(Number));
    expect(await failure(send())).toMatchObject({
      statusCode: 400,
      message: 'No active meter found for event name "toggled"',
    });
    expect((await stripe.billing.meters.reactivate(meter.id)).status).toBe("active");
    await send();
  });

  test.each([
    [{ display_name: "x", default_aggregation: { formula: "sum" } }, "event_name"],
    [{ display_name: "x", event_name: "e1" }, "default_aggregation"],
    [
      { display_name: "x", event_name: "e2", default_aggregation: { formula: "max" } },
      "default_aggregation[formula]",
    ],
    [
      {
        display_name: "x",
        event_name: "e3",
        default_aggregation: { formula: "sum" },
        customer_mapping: { type: "by_email", event_payload_key: "c" },
      },
      "customer_mapping[type]",
    ],
    [
      {
        display_name: "x",
        event_name: "e4",
        default_aggregation: { formula: "sum" },
        value_settings: { event_payload_key: "" },
      },
      "value_settings[event_payload_key]",
    ],
  ])("invalid create %o names %s", async (params, param) => {
    const error = await failure(stripe.billing.meters.create(params as Stripe.Billing.MeterCreateParams));

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((error as Stripe.errors.StripeError).param).toBe(param);
  });

  test("a second meter for an event name is refused", async () => {
    const params = { display_name: "Twice", event_name: "twice", default_aggregation: { formula: "sum" } };
    await stripe.billing.meters.create(params);

    expect(await failure(stripe.billing.meters.create(params))).toMatchObject({
      statusCode: 400,
      param: "event_name",
    });
  });

  test("an unknown meter is a 404 resource_missing", async () => {
    expect(await failure(stripe.billing.meters.deactivate("mtr_nothing"))).toMatchObject({
      statusCode: 404,
      code: "resource_missing",
    });
  });
});
