import { parseDuration } from "@gateway/common";
import { z } from "zod";
import { SCOPES } from "../access/scopes.js";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/event-types.js";

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;
const YEAR_MS = 365 * 86_400_000;
const MAX_LIMIT = 1_000_000_000;
const MAX_QUOTA = 1_000_000_000_000_000;

export const userId = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/,
    "must be 1 to 128 characters of letters, digits and . _ : @ -, starting with a letter or digit",
  );

/** Public key ids have a fixed shape; anything else cannot name a key. */
export const keyId = z.string().regex(/^key_[0-9A-Za-z]{22}$/, "is not a key id");
const managementKeyId = z.string().regex(/^mk_[0-9A-Za-z]{22}$/, "is not a management key id");

export const userIdParams = z.strictObject({ user_id: userId });
export const keyIdParams = z.strictObject({ id: keyId });
export const managementKeyIdParams = z.strictObject({ id: managementKeyId });

const name = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(200, "must be at most 200 characters")
  .refine((v) => !CONTROL_CHARS.test(v), "must not contain control characters");

const rateLimit = z
  .number({ error: "must be a whole number or null" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(MAX_LIMIT, `must be at most ${MAX_LIMIT}`)
  .nullable();

const scope = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}$/,
    "must be 1 to 64 characters of letters, digits and : . _ / -",
  );

const scopes = z
  .array(scope)
  .max(64, "at most 64 scopes")
  .transform((list) => [...new Set(list)].sort());

const metadata = z
  .record(z.string().max(100), z.json())
  .refine((v) => JSON.stringify(v).length <= 16_384, "must be at most 16 KB as JSON")
  .refine((v) => depth(v) <= 8, "must be nested at most 8 levels deep");

const stripeCustomerId = z
  .string()
  .regex(/^cus_[A-Za-z0-9]{1,64}$/, 'must be a Stripe customer id such as "cus_NffrFeUfNV2Hib"')
  .nullable();

const expiresAt = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time such as "2027-01-31T00:00:00Z"' })
  .transform((v) => new Date(v))
  .nullable();

/** "30d", "90d", "12h", "2w", "1y" or "never" (null: no expiry). */
const expiresIn = z
  .string()
  .regex(/^(never|\d{1,4}[hdwy])$/, 'must be a period such as "30d", "90d", "1y" or "never"')
  .transform((v, ctx) => {
    if (v === "never") return null;
    const amount = Number(v.slice(0, -1));
    const unit = v.slice(-1);
    const ms =
      amount * { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, y: YEAR_MS }[unit as "h" | "d" | "w" | "y"];
    if (ms < 3_600_000 || ms > 10 * YEAR_MS) {
      ctx.addIssue({ code: "custom", message: "must be between 1h and 10y" });
      return z.NEVER;
    }
    return ms;
  });

const expiryRule = (v: { expires_at?: unknown; expires_in?: unknown }) =>
  v.expires_at === undefined || v.expires_in === undefined;
const expiryMessage = { message: "give expires_at or expires_in, not both", path: ["expires_in"] };

/** What a key's owner may set at creation and change later. */
const keySettings = {
  rate_limit_per_minute: rateLimit.optional(),
  rate_limit_per_day: rateLimit.optional(),
  scopes: scopes.optional(),
  expires_at: expiresAt.optional(),
  expires_in: expiresIn.optional(),
  metadata: metadata.optional(),
  stripe_customer_id: stripeCustomerId.optional(),
};

export const createKeyBody = z
  .strictObject({ user_id: userId, name, ...keySettings })
  .refine(expiryRule, expiryMessage);

export const updateKeyBody = z
  .strictObject({
    name: name.optional(),
    ...keySettings,
    enabled: z.boolean({ error: "must be true or false" }).optional(),
  })
  .refine(expiryRule, expiryMessage);

export const rotateKeyBody = z.strictObject({
  grace_period: z
    .string()
    .transform((v, ctx) => {
      const ms = parseDuration(v);
      if (ms === null || ms > 30 * 86_400_000) {
        ctx.addIssue({ code: "custom", message: 'must be a duration from "0s" to "30d", such as "24h"' });
        return z.NEVER;
      }
      return ms;
    })
    .optional(),
});

/** Plan ids are chosen by the operator and appear in URLs: short, lower case, no escaping needed. */
export const planId = z
  .string()
  .regex(/^[a-z0-9_-]{1,64}$/, "must be 1 to 64 characters of a-z, 0-9, _ and -");

export const planIdParams = z.strictObject({ id: planId });

const monthlyQuota = z
  .number({ error: "must be a whole number or null" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(MAX_QUOTA, `must be at most ${MAX_QUOTA}`)
  .nullable();

const overage = z.enum(["block", "bill"], { message: 'must be "block" or "bill"' });

const alertThresholds = z
  .array(z.number({ error: "must be a number" }).gt(0, "must be greater than 0").lte(1, "must be at most 1"))
  .max(10, "at most 10 thresholds")
  .transform((list) => [...new Set(list)].sort((a, b) => a - b));

/** What a plan's owner may set at creation and change later. */
const planSettings = {
  rate_limit_per_minute: rateLimit.optional(),
  rate_limit_per_day: rateLimit.optional(),
  monthly_quota: monthlyQuota.optional(),
  overage: overage.optional(),
  alert_thresholds: alertThresholds.optional(),
};

export const createPlanBody = z.strictObject({ id: planId, name, ...planSettings });

export const updatePlanBody = z.strictObject({ name: name.optional(), ...planSettings });

/** Only its day of the month and time of day count; the range keeps Postgres and toISOString() happy. */
const billingCycleAnchor = z.iso
  .datetime({ offset: true, message: 'must be an RFC 3339 date-time such as "2026-11-15T00:00:00Z"' })
  .transform((v, ctx) => {
    const date = new Date(v);
    if (date.getTime() < 0 || date.getUTCFullYear() > 9999) {
      ctx.addIssue({ code: "custom", message: "must be from 1970 to 9999 (UTC)" });
      return z.NEVER;
    }
    return date;
  })
  .nullable();

export const updateUserBody = z
  .strictObject({
    stripe_customer_id: stripeCustomerId.optional(),
    plan_id: planId.nullable().optional(),
    billing_cycle_anchor: billingCycleAnchor.optional(),
  })
  .refine((v) => Object.keys(v).length > 0, {
    message: "give at least one of stripe_customer_id, plan_id, billing_cycle_anchor",
    // An unknown field is the problem to report, not the emptiness left once it is dropped.
    when: (payload) => payload.issues.length === 0,
  });

const pageLimit = z.coerce
  .number({ error: "must be a whole number" })
  .int("must be a whole number")
  .min(1, "must be at least 1")
  .max(100, "must be at most 100")
  .default(20);

const cursor = z.string().max(512, "is not a cursor this API returned").optional();

export const pageQuery = z.strictObject({ limit: pageLimit, cursor });
export const listKeysQuery = pageQuery;

const instant = z.iso
  .datetime({ offset: true, message: 'must be an ISO 8601 date-time such as "2026-11-01T00:00:00Z"' })
  .transform((v) => new Date(v));

export const searchKeysQuery = z.strictObject({
  user_id: userId.optional(),
  status: z
    .enum(["active", "disabled", "expired", "revoked"], {
      message: "must be active, disabled, expired or revoked",
    })
    .optional(),
  q: z
    .string()
    .min(1, "must not be empty")
    .max(200, "must be at most 200 characters")
    .refine((v) => !CONTROL_CHARS.test(v), "must not contain control characters")
    .optional(),
  created_after: instant.optional(),
  created_before: instant.optional(),
  limit: pageLimit,
  cursor,
});

export const createManagementKeyBody = z.strictObject({
  name,
  scopes: z
    .array(z.enum(SCOPES, { message: `must be one of ${SCOPES.join(", ")}` }))
    .min(1, "at least one scope")
    .transform((list) => [...new Set(list)].sort()),
  user_id: userId.nullable().optional(),
  expires_in: expiresIn.optional(),
});

export const verifyBody = z.strictObject({
  key: z.string().min(1, "must not be empty").max(512, "must be at most 512 characters"),
  required_scopes: z.array(scope).max(64, "at most 64 scopes").default([]),
  cost: z
    .number({ error: "must be a whole number" })
    .int("must be a whole number")
    .min(1, "must be at least 1")
    .max(1_000_000, "must be at most 1000000")
    .default(1),
  consume: z.boolean({ error: "must be true or false" }).default(true),
});

export const ownerQuery = z.strictObject({ user_id: userId.optional() });

export const AUDIT_ACTIONS = [
  "key.created",
  "key.updated",
  "key.rotated",
  "key.revoked",
  "user.billing_updated",
  "user.plan_updated",
  "user.suspended",
  "user.unsuspended",
  "plan.created",
  "plan.updated",
  "plan.deleted",
  "management_key.created",
  "management_key.revoked",
  "webhook.created",
  "webhook.deleted",
] as const;

export const auditQuery = z.strictObject({
  key_id: keyId.optional(),
  user_id: userId.optional(),
  action: z.enum(AUDIT_ACTIONS).optional(),
  actor_id: z.union([z.literal("admin_token"), z.literal("stripe_webhook"), managementKeyId]).optional(),
  limit: pageLimit,
  cursor,
});

function depth(value: unknown): number {
  if (typeof value !== "object" || value === null) return 0;
  const children = Object.values(value);
  return 1 + (children.length === 0 ? 0 : Math.max(...children.map(depth)));
}

export const usageQuery = z
  .strictObject({
    user_id: userId.optional(),
    key_id: keyId.optional(),
    stripe_customer_id: stripeCustomerId.unwrap().optional(),
    from: instant.optional(),
    to: instant.optional(),
    granularity: z
      .enum(["minute", "hour", "day"], { message: "must be minute, hour or day" })
      .default("hour"),
    format: z.enum(["json", "csv"], { message: "must be json or csv" }).optional(),
  })
  .refine((q) => [q.user_id, q.key_id, q.stripe_customer_id].filter((v) => v !== undefined).length === 1, {
    message: "give one of user_id, key_id or stripe_customer_id",
    path: ["user_id"],
  });

const webhookId = z.string().regex(/^wh_[0-9A-Za-z]{22}$/, "is not a webhook id");
export const webhookIdParams = z.strictObject({ id: webhookId });

/**
 * An http(s) URL without credentials, stored as the URL parser writes it. Whitespace and control
 * characters are refused rather than silently dropped, as the parser would. Whether its host may be
 * reached is decided after a DNS lookup, by the service.
 */
const webhookUrl = z
  .string()
  .max(2048, "must be at most 2048 characters")
  .refine((v) => !CONTROL_CHARS.test(v) && !/\s/.test(v), "must not contain whitespace or control characters")
  .refine((v) => URL.canParse(v) && ["http:", "https:"].includes(new URL(v).protocol), {
    message: "must be an http:// or https:// URL",
    abort: true,
  })
  .refine((v) => {
    const url = new URL(v);
    return url.username === "" && url.password === "";
  }, "must not contain credentials")
  .transform((v) => new URL(v).href);

export const createWebhookBody = z.strictObject({
  url: webhookUrl,
  events: z
    .array(z.enum(WEBHOOK_EVENT_TYPES, { message: `must be one of ${WEBHOOK_EVENT_TYPES.join(", ")}` }))
    .min(1, "at least one event type")
    .transform((list) => [...new Set(list)].sort()),
  user_id: userId.optional(),
});

export const listWebhooksQuery = z.strictObject({ user_id: userId.optional(), limit: pageLimit, cursor });

export const deliveriesQuery = z.strictObject({
  status: z
    .enum(["pending", "delivered", "dead"], { message: "must be pending, delivered or dead" })
    .optional(),
  limit: pageLimit,
  cursor,
});
