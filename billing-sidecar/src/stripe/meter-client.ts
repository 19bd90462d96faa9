import Stripe from "stripe";

export interface MeterEvent {
  eventName: string;
  customerId: string;
  value: string;
  identifier: string;
  timestamp: Date;
}

/** What became of one call: the sender decides from this alone. */
export type SendOutcome =
  | { kind: "delivered"; duplicate: boolean }
  | { kind: "rate_limited"; reason: string }
  | { kind: "retry"; reason: string }
  | { kind: "refused"; reason: string };

export interface MeterClient {
  /** Events one call carries at most; the sender batches to this size. */
  readonly batchSize: number;
  /** Sends the events in one call; the outcome applies to all of them. */
  send(events: MeterEvent[]): Promise<SendOutcome>;
}

const DUPLICATE = /^An event already exists with identifier/;

/**
 * The payload keys every meter event carries: the meter's `customer_mapping.event_payload_key` and
 * `value_settings.event_payload_key` must name them (`pnpm stripe:setup` checks that they do).
 */
export const METER_PAYLOAD_KEYS = { customer: "stripe_customer_id", value: "value" } as const;

export function meterPayload(event: Pick<MeterEvent, "customerId" | "value">): Record<string, string> {
  return { [METER_PAYLOAD_KEYS.customer]: event.customerId, [METER_PAYLOAD_KEYS.value]: event.value };
}

/** The official SDK, pointed at Stripe or, through STRIPE_API_BASE, at another host. */
export function stripeConfig(apiBase?: string, timeoutMs = 10_000): Stripe.StripeConfig {
  const base = apiBase ? new URL(apiBase) : undefined;
  return {
    maxNetworkRetries: 2,
    timeout: timeoutMs,
    telemetry: false,
    ...(base
      ? {
          host: base.hostname,
          port: Number(base.port || (base.protocol === "https:" ? 443 : 80)),
          protocol: base.protocol === "https:" ? "https" : "http",
        }
      : {}),
  };
}

export function createStripe(apiKey: string, apiBase?: string, timeoutMs = 10_000): Stripe {
  return new Stripe(apiKey, stripeConfig(apiBase, timeoutMs));
}

/** v1 meter events: one event per call, validated synchronously. */
export function createStripeMeterClient(stripe: Stripe): MeterClient {
  return {
    batchSize: 1,
    async send(events) {
      const event = events[0];
      if (!event || events.length > 1) throw new Error("v1 meter events are sent one at a time");
      try {
        await stripe.billing.meterEvents.create(
          {
            event_name: event.eventName,
            payload: meterPayload(event),
            identifier: event.identifier,
            timestamp: Math.floor(event.timestamp.getTime() / 1000),
          },
          // The same key for the same identifier: a retry after a crash replays instead of duplicating.
          { idempotencyKey: `gw-${event.identifier}` },
        );
        return { kind: "delivered", duplicate: false };
      } catch (err) {
        return classify(err);
      }
    },
  };
}

export function classify(err: unknown): SendOutcome {
  if (!(err instanceof Stripe.errors.StripeError)) return { kind: "retry", reason: String(err) };
  const reason = `${err.type}${err.statusCode ? ` ${err.statusCode}` : ""}: ${err.message}`;
  if (err instanceof Stripe.errors.StripeInvalidRequestError && DUPLICATE.test(err.message)) {
    return { kind: "delivered", duplicate: true };
  }
  if (err instanceof Stripe.errors.StripeRateLimitError) return { kind: "rate_limited", reason };
  if (
    err instanceof Stripe.errors.StripeAPIError ||
    err instanceof Stripe.errors.StripeConnectionError ||
    (err.statusCode ?? 0) >= 500 ||
    err.statusCode === 409
  ) {
    return { kind: "retry", reason };
  }
  // Bad key or permissions: an operator must act, but the usage is not lost.
  if (
    err instanceof Stripe.errors.StripeAuthenticationError ||
    err instanceof Stripe.errors.StripePermissionError
  ) {
    return { kind: "retry", reason };
  }
  return { kind: "refused", reason };
}
