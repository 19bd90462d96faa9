import { randomBytes } from "node:crypto";
import Stripe from "stripe";

export interface StripeEventInit {
  type: string;
  /** The event's `data.object`: an invoice, subscription or customer. */
  object: Record<string, unknown>;
  /** Default: a fresh `evt_…`. */
  id?: string;
  /** Unix seconds; default now. What ordering compares. */
  created?: number;
}

/** A v1 snapshot Event shaped as Stripe sends it to a webhook endpoint. */
export function stripeEvent(init: StripeEventInit): Stripe.Event {
  return {
    id: init.id ?? `evt_test_${randomBytes(12).toString("hex")}`,
    object: "event",
    api_version: "2025-11-17.clover",
    created: init.created ?? Math.floor(Date.now() / 1000),
    data: { object: init.object },
    livemode: false,
    pending_webhooks: 1,
    request: { id: null, idempotency_key: null },
    type: init.type,
  } as unknown as Stripe.Event;
}

/** An invoice, subscription or customer object for `stripeEvent`, naming the customer. */
export const invoiceFor = (customer: string) => ({
  id: `in_test_${randomBytes(8).toString("hex")}`,
  object: "invoice",
  customer,
  status: "open",
});
export const subscriptionFor = (customer: string) => ({
  id: `sub_test_${randomBytes(8).toString("hex")}`,
  object: "subscription",
  customer,
  status: "canceled",
});
export const customerObject = (customer: string) => ({ id: customer, object: "customer", deleted: true });

export interface WebhookDelivery {
  status: number;
  /** The answer's JSON object; a body that is not one, as `{ text }`. */
  body: { outcome?: string; error?: string; [field: string]: unknown };
}

export interface SendOptions {
  /** Replaces the signature header (a forged or stale one); null sends none. */
  signature?: string | null;
  /** Sends this text instead of the event's JSON (after signing the event: a tampered body). */
  body?: string;
}

/**
 * Posts the event to a webhook endpoint as Stripe does: the JSON body and a `Stripe-Signature` header
 * from the official SDK's `generateTestHeaderString`, with the endpoint's signing secret.
 */
export async function sendStripeEvent(
  url: string,
  event: Stripe.Event,
  secret: string,
  options: SendOptions = {},
): Promise<WebhookDelivery> {
  const payload = JSON.stringify(event, null, 2);
  const signature =
    options.signature === undefined
      ? Stripe.webhooks.generateTestHeaderString({ payload, secret })
      : options.signature;
  const headers: Record<string, string> = {
    "content-type": "application/json; charset=utf-8",
    "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
  };
  if (signature !== null) headers["stripe-signature"] = signature;
  const response = await fetch(url, { method: "POST", headers, body: options.body ?? payload });
  const text = await response.text();
  let body: WebhookDelivery["body"] = { text };
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && !Array.isArray(parsed))
      body = parsed as WebhookDelivery["body"];
  } catch {
    // Not JSON: kept as text.
  }
  return { status: response.status, body };
}
