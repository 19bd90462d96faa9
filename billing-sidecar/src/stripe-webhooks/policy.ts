import { z } from "zod";

/**
 * What a Stripe event does to the users whose `stripe_customer_id` it names: suspend their keys, lift
 * the suspension, or clear the customer from them and suspend (the customer no longer exists).
 */
export const WEBHOOK_ACTIONS = ["suspend", "unsuspend", "clear_customer", "ignore"] as const;
export type WebhookAction = (typeof WEBHOOK_ACTIONS)[number];

export type WebhookPolicy = ReadonlyMap<string, Exclude<WebhookAction, "ignore">>;

export const DEFAULT_POLICY: Readonly<Record<string, WebhookAction>> = {
  "invoice.payment_failed": "suspend",
  "invoice.paid": "unsuspend",
  "customer.subscription.deleted": "suspend",
  "customer.deleted": "clear_customer",
};

const EVENT_TYPE = /^[a-z0-9_]+(\.[a-z0-9_]+)+$/;

/**
 * STRIPE_WEBHOOK_POLICY: `type=action` pairs, comma-separated, over the defaults; `ignore` turns a
 * default off. "invoice.payment_failed=ignore,customer.subscription.paused=suspend".
 */
export const webhookPolicy = () =>
  z
    .string()
    .default("")
    .transform((text, ctx): WebhookPolicy => {
      const merged: Record<string, WebhookAction> = { ...DEFAULT_POLICY };
      const seen = new Set<string>();
      for (const part of text
        .split(",")
        .map((p) => p.trim())
        .filter(Boolean)) {
        const [type = "", action = "", ...rest] = part.split("=").map((p) => p.trim());
        const problem = !EVENT_TYPE.test(type)
          ? `"${part}": must be a Stripe event type, such as invoice.payment_failed, then =action`
          : !(WEBHOOK_ACTIONS as readonly string[]).includes(action) || rest.length > 0
            ? `"${part}": the action must be one of ${WEBHOOK_ACTIONS.join(", ")}`
            : seen.has(type)
              ? `"${type}" is given twice`
              : null;
        if (problem) {
          ctx.addIssue({ code: "custom", message: problem });
          return z.NEVER;
        }
        seen.add(type);
        merged[type] = action as WebhookAction;
      }
      const policy = new Map<string, Exclude<WebhookAction, "ignore">>();
      for (const [type, action] of Object.entries(merged)) if (action !== "ignore") policy.set(type, action);
      return policy;
    });
