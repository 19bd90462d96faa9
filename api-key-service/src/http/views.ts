import { z } from "zod";
import { SCOPES } from "../access/scopes.js";
import { VERIFY_CODES } from "../verify/verify-result.js";
import { WEBHOOK_EVENT_TYPES } from "../webhooks/event-types.js";

// What the API answers, as zod schemas: the OpenAPI document's response schemas come from these.

const timestamp = z.iso.datetime();
const nullableTimestamp = timestamp.nullable();

export const actorView = z
  .union([
    z.object({ type: z.literal("admin_token") }),
    z.object({ type: z.literal("management_key"), id: z.string(), name: z.string() }),
    z.object({ type: z.literal("stripe_webhook"), event_id: z.string() }),
  ])
  .meta({ id: "Actor", description: "Who made a change" });

export const keyView = z
  .object({
    id: z.string(),
    user_id: z.string(),
    name: z.string(),
    start: z.string().meta({ description: "The first characters of the secret, to tell keys apart" }),
    status: z.enum(["active", "disabled", "expired", "revoked"]),
    enabled: z.boolean(),
    scopes: z.array(z.string()),
    rate_limit_per_minute: z.number().int().nullable().meta({ description: "null: the configured default" }),
    rate_limit_per_day: z.number().int().nullable().meta({ description: "null: the configured default" }),
    metadata: z.record(z.string(), z.unknown()),
    stripe_customer_id: z.string().nullable().meta({ description: "Overrides the user's customer" }),
    expires_at: nullableTimestamp,
    revoked_at: nullableTimestamp,
    rotated_at: nullableTimestamp,
    previous_key_expires_at: nullableTimestamp.meta({ description: "End of the old secret's grace period" }),
    created_at: timestamp,
    updated_at: timestamp,
    last_used_at: nullableTimestamp,
    created_by: actorView,
  })
  .meta({ id: "Key" });

const secret = { key: z.string().meta({ description: "The secret, shown this once" }) };
export const keyWithSecretView = keyView.extend(secret).meta({ id: "KeyWithSecret" });

export const userView = z
  .object({
    user_id: z.string(),
    stripe_customer_id: z.string().nullable(),
    plan_id: z
      .string()
      .nullable()
      .meta({ description: "null: no plan (each key's own limits, else the defaults)" }),
    billing_cycle_anchor: nullableTimestamp.meta({
      description:
        "Billing periods start on its day of the month and time of day (UTC); null: calendar months",
    }),
    suspended_at: nullableTimestamp.meta({
      description:
        "Set while the user is suspended for non-payment (a Stripe webhook): every key of theirs is refused with 402 payment_required; the keys' own status is unchanged",
    }),
    suspended_reason: z.string().nullable().meta({
      description: "The type of the Stripe event that suspended the user, e.g. invoice.payment_failed",
    }),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: "User" });

export const planView = z
  .object({
    id: z.string(),
    name: z.string(),
    rate_limit_per_minute: z
      .number()
      .int()
      .nullable()
      .meta({ description: "For keys without their own; null: the configured default" }),
    rate_limit_per_day: z
      .number()
      .int()
      .nullable()
      .meta({ description: "For keys without their own; null: the configured default" }),
    monthly_quota: z
      .number()
      .int()
      .nullable()
      .meta({ description: "Units per billing period; null: unlimited" }),
    overage: z.enum(["block", "bill"]).meta({ description: "Past the quota: refuse, or admit and bill" }),
    alert_thresholds: z
      .array(z.number())
      .meta({ description: "Fractions of the quota at which a quota.threshold event is sent" }),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: "Plan" });

export const userSummaryView = userView
  .extend({
    keys: z.object({
      active: z.number().int(),
      disabled: z.number().int(),
      expired: z.number().int(),
      revoked: z.number().int(),
      total: z.number().int(),
    }),
    last_used_at: nullableTimestamp.meta({ description: "The latest use of any of the user's keys" }),
  })
  .meta({ id: "UserSummary" });

export const auditEventView = z
  .object({
    id: z.string(),
    occurred_at: timestamp,
    action: z.string(),
    key_id: z.string().nullable(),
    user_id: z.string().nullable(),
    management_key_id: z.string().nullable(),
    actor: actorView,
    request_id: z.string().nullable(),
    client_ip: z.string().nullable(),
    changes: z.record(z.string(), z.unknown()),
  })
  .meta({ id: "AuditEvent" });

export const managementKeyView = z
  .object({
    id: z.string(),
    name: z.string(),
    start: z.string(),
    status: z.enum(["active", "expired", "revoked"]),
    scopes: z.array(z.enum(SCOPES)),
    user_id: z.string().nullable().meta({ description: "Set: the key acts only on this user" }),
    expires_at: nullableTimestamp,
    revoked_at: nullableTimestamp,
    created_by: actorView,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: "ManagementKey" });

export const managementKeyWithSecretView = managementKeyView
  .extend(secret)
  .meta({ id: "ManagementKeyWithSecret" });

export const usageReportView = z
  .object({
    data: z.array(z.record(z.string(), z.unknown())),
    stripe: z.array(z.record(z.string(), z.unknown())),
    totals: z.record(z.string(), z.number()),
  })
  .meta({ id: "UsageReport" });

export const problemView = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string(),
    request_id: z.string(),
    code: z.string(),
    errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: "Problem", description: "RFC 9457 problem details" });

/** A cursor page: pass `next_cursor` as `cursor` for the next one. */
export const page = <T extends z.ZodType>(item: T) =>
  z.object({ data: z.array(item), next_cursor: z.string().nullable() });

export const verifyResultView = z
  .object({
    valid: z.boolean(),
    code: z.enum(VERIFY_CODES),
    key_id: z.string().optional(),
    user_id: z.string().optional(),
    scopes: z.array(z.string()).optional(),
    rate_limit: z
      .object({
        limit: z.number().int(),
        remaining: z.number().int(),
        reset: z.number().int().meta({ description: "When the window frees its oldest count, Unix ms" }),
      })
      .optional(),
    quota: z
      .object({
        limit: z.number().int(),
        used: z.number().int(),
        remaining: z.number().int(),
        reset: z.number().int().meta({ description: "The billing period's end, Unix ms" }),
      })
      .optional()
      .meta({ description: "The user's monthly quota, when their plan has one" }),
  })
  .meta({ id: "VerifyResult" });

export const openApiObject = z
  .record(z.string(), z.unknown())
  .meta({ description: "An OpenAPI 3.1 document" });

export const webhookView = z
  .object({
    id: z.string(),
    url: z.string(),
    events: z.array(z.enum(WEBHOOK_EVENT_TYPES)),
    user_id: z.string().nullable().meta({ description: "Set: only this user's events are sent" }),
    created_by: actorView,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: "Webhook" });

export const webhookWithSecretView = webhookView
  .extend({
    secret: z.string().meta({
      description: "The Standard Webhooks signing secret (`whsec_…`), shown this once",
    }),
  })
  .meta({ id: "WebhookWithSecret" });

export const webhookDeliveryView = z
  .object({
    id: z.string(),
    event_id: z.string().meta({ description: "Sent as `webhook-id`: the same on every attempt" }),
    event_type: z.string(),
    status: z.enum(["pending", "delivered", "dead"]),
    attempts: z.number().int(),
    last_error: z.string().nullable(),
    last_status_code: z.number().int().nullable(),
    next_attempt_at: nullableTimestamp.meta({ description: "Set while pending" }),
    delivered_at: nullableTimestamp,
    created_at: timestamp,
    updated_at: timestamp,
  })
  .meta({ id: "WebhookDelivery" });

export const quotaView = z
  .object({
    user_id: z.string(),
    plan_id: z.string().nullable(),
    period_start: timestamp,
    period_end: timestamp,
    monthly_quota: z.number().int().nullable().meta({ description: "Units per period; null: no quota" }),
    used: z.number().int(),
    remaining: z.number().int().nullable(),
    overage: z.enum(["block", "bill"]).nullable(),
  })
  .meta({ id: "Quota" });
