import Stripe from "stripe";
import { afterAll, beforeEach, describe, expect, test } from "vitest";
import { manualClock, type StripeEmulator, startStripeEmulator } from "../src/index.js";

// The v2 high-throughput path: a session made with the secret key, then a second client that
// streams with the session's token, as in stripe-node's meter_event_stream example.

const START = Date.UTC(2026, 0, 15, 12, 0, 0);
const clock = manualClock(START);
const emulator: StripeEmulator = await startStripeEmulator({
  now: clock.now,
  meters: [{ eventName: "api_requests" }],
});
const config = { ...emulator.sdkConfig, maxNetworkRetries: 0, telemetry: false };
const stripe = new Stripe(emulator.apiKey, config);

afterAll(() => emulator.close());
beforeEach(() => {
  emulator.reset();
  clock.set(START);
});

async function streamClient(): Promise<Stripe> {
  const session = await stripe.v2.billing.meterEventSession.create();
  return new Stripe(session.authentication_token, config);
}

type StreamEvent = Parameters<Stripe["v2"]["billing"]["meterEventStream"]["create"]>[0]["events"][number];

const event = (identifier: string, customer = "cus_1"): StreamEvent => ({
  event_name: "api_requests",
  identifier,
  payload: { stripe_customer_id: customer, value: "2" },
  timestamp: new Date(clock.now() - 60_000).toISOString(),
});
const events = (count: number): StreamEvent[] => Array.from({ length: count }, (_, i) => event(`evt-${i}`));

describe("meter event sessions", () => {
  test("a session carries a token that expires 15 minutes after it was made", async () => {
    const session = await stripe.v2.billing.meterEventSession.create();

    expect(session.object).toBe("v2.billing.meter_event_session");
    expect(session.livemode).toBe(false);
    expect(session.authentication_token).not.toBe("");
    expect(Date.parse(session.created)).toBe(START);
    expect(Date.parse(session.expires_at)).toBe(START + 15 * 60_000);
  });

  test("the token opens the stream only, not the v1 API", async () => {
    const tokenClient = await streamClient();

    await expect(tokenClient.billing.meters.list()).rejects.toBeInstanceOf(
      Stripe.errors.StripeAuthenticationError,
    );
  });
});

describe("the meter event stream", () => {
  test("accepts up to 100 events in one call and counts them all", async () => {
    const client = await streamClient();

    await client.v2.billing.meterEventStream.create({ events: events(100) });

    expect(emulator.total("api_requests", "cus_1")).toBe(200);
    expect(emulator.events().every((e) => e.source === "v2_stream")).toBe(true);
    expect(emulator.events()[0]?.timestamp).toBe(Math.floor(clock.now() / 1000) - 60);
  });

  test("refuses 101 events with a 400 and counts none", async () => {
    const client = await streamClient();

    const error = await client.v2.billing.meterEventStream
      .create({ events: events(101) })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error).toMatchObject({ statusCode: 400 });
    expect(emulator.events()).toHaveLength(0);
  });

  test("an expired session gets 401 TemporarySessionExpiredError; a new session works again", async () => {
    const client = await streamClient();
    clock.advance(15 * 60_000);

    const error = await client.v2.billing.meterEventStream
      .create({ events: events(1) })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.TemporarySessionExpiredError);
    expect(error).toMatchObject({ statusCode: 401, code: "billing_meter_event_session_expired" });
    await (await streamClient()).v2.billing.meterEventStream.create({ events: events(1) });
    expect(emulator.events()).toHaveLength(1);
  });

  test("bad events are accepted on the wire and only show up as error reports", async () => {
    const client = await streamClient();
    const old = new Date(clock.now() - 36 * 86_400_000).toISOString();

    await client.v2.billing.meterEventStream.create({
      events: [
        event("ok"),
        { ...event("no-meter"), event_name: "nope" },
        { ...event("too-old"), timestamp: old },
        { ...event("no-customer"), payload: { value: "1" } },
        event("ok"),
      ],
    });

    expect(emulator.events().map((e) => e.identifier)).toEqual(["ok"]);
    expect(emulator.errorReports().map((r) => [r.identifier, r.code])).toEqual([
      ["no-meter", "no_meter"],
      ["too-old", "timestamp_too_far_in_past"],
      ["no-customer", "meter_event_no_customer_defined"],
      ["ok", "duplicate_identifier"],
    ]);
  });
});
