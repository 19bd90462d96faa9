import Stripe from "stripe";
import { afterEach, describe, expect, test } from "vitest";
import { type StripeEmulator, type StripeEmulatorOptions, startStripeEmulator } from "../src/index.js";

// The emulator's switches for behaviour the reference leaves open or Stripe configures per account.

let emulator: StripeEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function start(options: StripeEmulatorOptions = {}, key?: string) {
  emulator = await startStripeEmulator({ meters: [{ eventName: "api_requests" }], ...options });
  const stripe = new Stripe(key ?? emulator.apiKey, {
    ...emulator.sdkConfig,
    maxNetworkRetries: 0,
    telemetry: false,
  });
  return { emulator, stripe };
}

const usage = (customer: string, payload: Record<string, string> = { value: "1" }) => ({
  event_name: "api_requests",
  payload: { stripe_customer_id: customer, ...payload },
});

describe("unknown customers", () => {
  test("with a customer list, others get a synchronous No such customer", async () => {
    const { stripe, emulator } = await start({ customers: ["cus_known"] });

    await stripe.billing.meterEvents.create(usage("cus_known"));
    const error = await stripe.billing.meterEvents.create(usage("cus_ghost")).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect((error as Error).message).toMatch(/^No such customer: 'cus_ghost'/);
    expect(emulator.events()).toHaveLength(1);
  });

  test("reported instead of rejected: 200 on the wire, dropped with the async error code", async () => {
    const { stripe, emulator } = await start({ customers: [], reportInsteadOfReject: ["unknown_customer"] });

    const event = await stripe.billing.meterEvents.create({ ...usage("cus_ghost"), identifier: "ghost-1" });

    expect(event.identifier).toBe("ghost-1");
    expect(emulator.events()).toHaveLength(0);
    expect(emulator.errorReports()).toMatchObject([
      { code: "meter_event_customer_not_found", identifier: "ghost-1", source: "v1" },
    ]);
  });
});

test("missing payload keys can be reported asynchronously instead of rejected", async () => {
  const { stripe, emulator } = await start({ reportInsteadOfReject: ["payload_keys"] });

  await stripe.billing.meterEvents.create({ event_name: "api_requests", payload: { value: "3" } });
  const error = await stripe.billing.meterEvents
    .create(usage("cus_1", { value: "0.5" }))
    .catch((e: unknown) => e);

  expect(emulator.errorReports().map((r) => r.code)).toEqual(["meter_event_no_customer_defined"]);
  // A bad value is still a synchronous 400: only the payload-key checks were deferred.
  expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
});

test("a configured apiKey is the only secret key accepted", async () => {
  const { stripe, emulator } = await start({ apiKey: "sk_test_sidecar" }, "sk_test_someone_else");

  await expect(stripe.billing.meters.list()).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  const own = new Stripe("sk_test_sidecar", { ...emulator.sdkConfig, telemetry: false });
  await expect(own.billing.meters.list()).resolves.toMatchObject({ object: "list" });
});

test("a meter deactivated mid-run stops taking events and lists as inactive", async () => {
  const { stripe, emulator } = await start();

  emulator.setMeterStatus("api_requests", "inactive");

  await expect(stripe.billing.meterEvents.create(usage("cus_1"))).rejects.toThrow(/No active meter found/);
  const inactive = await stripe.billing.meters.list({ status: "inactive" });
  expect(inactive.data.map((m) => [m.event_name, m.status])).toEqual([["api_requests", "inactive"]]);
  expect(inactive.data[0]?.status_transitions.deactivated_at).toEqual(expect.any(Number));
});

test("with the concurrency limit off, overlapping calls for one customer all pass", async () => {
  const { stripe, emulator } = await start({ concurrencyLimit: false, meterEventLatencyMs: 100 });

  await Promise.all([1, 2, 3].map(() => stripe.billing.meterEvents.create(usage("cus_1"))));

  expect(emulator.total("api_requests", "cus_1")).toBe(3);
});

test("with meterEventLatencyMs, a sidecar that does not serialize per customer and meter gets 429s", async () => {
  // Long enough that all three calls arrive while the first still runs, even on a busy machine.
  const { stripe, emulator } = await start({ meterEventLatencyMs: 400 });

  const results = await Promise.allSettled(
    [1, 2, 3].map(() => stripe.billing.meterEvents.create(usage("cus_1"))),
  );

  const rejected = results.filter((r) => r.status === "rejected").map((r) => r.reason as unknown);
  expect(rejected).toHaveLength(2);
  expect(rejected.every((e) => e instanceof Stripe.errors.StripeRateLimitError)).toBe(true);
  expect(emulator.events()).toHaveLength(1);
});
