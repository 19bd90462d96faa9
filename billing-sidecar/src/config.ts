import { duration, internalToken, parseConfig, port, redisUrl, url } from "@gateway/common";
import { z } from "zod";
import { webhookPolicy } from "./stripe-webhooks/policy.js";

/** "100-499" or "200-299,304": the response codes that are billed. */
const statusRanges = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((text, ctx) => {
      const ranges: [number, number][] = [];
      for (const part of text.split(",").map((p) => p.trim())) {
        const match = /^(\d{3})(?:-(\d{3}))?$/.exec(part);
        const low = Number(match?.[1]);
        const high = Number(match?.[2] ?? match?.[1]);
        if (!match || low > high) {
          ctx.addIssue({
            code: "custom",
            message: 'must be status codes or ranges, such as "100-499" or "200-299,304"',
          });
          return z.NEVER;
        }
        ranges.push([low, high]);
      }
      return ranges;
    });

/** The Stripe account and meter: all that `pnpm stripe:setup` reads. */
const stripeAccount = {
  STRIPE_API_KEY: z
    .string()
    .regex(/^(sk|rk)_[A-Za-z0-9_]+$/, "must be a Stripe secret or restricted key")
    .optional(),
  STRIPE_API_BASE: url(["http:", "https:"]).optional(),
  STRIPE_METER_EVENT_NAME: z.string().min(1).max(100).default("api_requests"),
  STRIPE_TIMEOUT: duration("10s"),
};

const schema = z.object({
  DATABASE_URL: url(["postgres:", "postgresql:"]),
  ALS_PORT: port(9002),
  /** Set: the access-log port takes only streams carrying it as x-gateway-token (docs/SECURITY.md). */
  INTERNAL_TOKEN: internalToken(),
  HTTP_PORT: port(9091),
  HOST: z.string().default("0.0.0.0"),
  ...stripeAccount,
  STRIPE_WINDOW: duration("1m"),
  STRIPE_SETTLE: duration("10s"),
  STRIPE_LOOKBACK: duration("2d").refine(
    (ms) => ms < 35 * 86_400_000,
    "must be under 35 days: Stripe refuses older events",
  ),
  STRIPE_SEND_INTERVAL: duration("2s"),
  STRIPE_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  STRIPE_MODE: z.enum(["v1", "stream"], { message: "must be v1 or stream" }).default("v1"),
  // Stripe webhooks in (docs/BILLING.md): without the secret, POST /stripe/webhook answers 501.
  STRIPE_WEBHOOK_SECRET: z
    .string()
    .regex(/^whsec_\S+$/, "must be a Stripe webhook signing secret (whsec_…)")
    .optional(),
  STRIPE_WEBHOOK_POLICY: webhookPolicy(),
  // Where a suspension is announced to every api-key-service replica: the same Redis and prefix.
  REDIS_URL: redisUrl().optional(),
  REDIS_KEY_PREFIX: z.string().max(64).default("gw:"),
  BILLABLE_STATUSES: statusRanges("100-499"),
  // Where billable usage comes from (docs/BILLING.md): Envoy's access log, or api-key-service's
  // counts of allowed checks (gateways without an access-log stream: nginx, Caddy, Traefik).
  BILLING_SOURCE: z
    .enum(["access_log", "checks"], { message: "must be access_log or checks" })
    .default("access_log"),
  CHECKS_POLL_INTERVAL: duration("5s"),
  // api-key-service's AUTHZ_FLUSH_INTERVAL (5 s) and a margin: a minute is taken once it is complete.
  CHECKS_SETTLE: duration("15s"),
  CHECKS_BILL_FROM: z.iso
    .datetime({ offset: true, message: "must be an ISO 8601 instant, such as 2026-12-01T00:00:00Z" })
    .transform((text) => new Date(text))
    .optional(),
  USAGE_FLUSH_INTERVAL: duration("1s"),
  USAGE_BATCH_ROWS: z.coerce.number().int().min(1).max(100_000).default(5_000),
  USAGE_BUFFER_ROWS: z.coerce.number().int().min(1_000).max(10_000_000).default(200_000),
  DEDUPE_WINDOW_ENTRIES: z.coerce.number().int().min(0).max(10_000_000).default(500_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SHUTDOWN_TIMEOUT: duration("10s"),
});

// A suspension the replicas only learn of when their cached keys age out would be no suspension.
const checked = schema.superRefine((config, ctx) => {
  if (config.STRIPE_WEBHOOK_SECRET && !config.REDIS_URL) {
    ctx.addIssue({
      code: "custom",
      path: ["REDIS_URL"],
      message: "is required with STRIPE_WEBHOOK_SECRET: suspensions reach api-key-service through Redis",
    });
  }
});

export type Config = z.infer<typeof schema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(checked, env);
}

const stripeAccountSchema = z.object(stripeAccount);
export type StripeAccountConfig = z.infer<typeof stripeAccountSchema>;

/** The sidecar's Stripe settings alone, read the same way, for commands that need no database. */
export function loadStripeAccountConfig(env: NodeJS.ProcessEnv = process.env): StripeAccountConfig {
  return parseConfig(stripeAccountSchema, env);
}
