import { createHash } from "node:crypto";
import Stripe from "stripe";
import { classify, type MeterClient, meterPayload } from "./meter-client.js";

/** Renew the session token this long before Stripe says it expires. */
const RENEW_BEFORE_MS = 60_000;
/** Stripe's limit per meter event stream call. */
const STREAM_BATCH = 100;

/**
 * Stripe's high-volume path (v2 meter event stream, for more than 1,000 events a second): up to 100
 * events a call, authenticated by a session token that lives 15 minutes and is renewed before it
 * expires, or at once when Stripe says it has. Events are validated asynchronously by Stripe, so a
 * bad event does not fail the call; the reconcile command finds what Stripe dropped.
 */
export function createStreamMeterClient(stripe: Stripe, config: Stripe.StripeConfig = {}): MeterClient {
  let session: { client: Stripe; renewAt: number } | undefined;

  async function sessionClient(): Promise<Stripe> {
    if (session && Date.now() < session.renewAt) return session.client;
    const created = await stripe.v2.billing.meterEventSession.create();
    session = {
      client: new Stripe(created.authentication_token, config),
      renewAt: Date.parse(created.expires_at) - RENEW_BEFORE_MS,
    };
    return session.client;
  }

  async function post(events: Parameters<MeterClient["send"]>[0]) {
    const client = await sessionClient();
    await client.v2.billing.meterEventStream.create(
      {
        events: events.map((e) => ({
          event_name: e.eventName,
          identifier: e.identifier,
          payload: meterPayload(e),
          timestamp: e.timestamp.toISOString(),
        })),
      },
      // Stable across retries of the same batch; a different batch of the same events gets its own.
      {
        idempotencyKey: `gw-stream-${createHash("sha256")
          .update(events.map((e) => e.identifier).join(","))
          .digest("hex")}`,
      },
    );
  }

  return {
    batchSize: STREAM_BATCH,
    async send(events) {
      try {
        await post(events);
        return { kind: "delivered", duplicate: false };
      } catch (err) {
        if (err instanceof Stripe.errors.TemporarySessionExpiredError) {
          session = undefined;
          try {
            await post(events);
            return { kind: "delivered", duplicate: false };
          } catch (again) {
            return classify(again);
          }
        }
        return classify(err);
      }
    },
  };
}
