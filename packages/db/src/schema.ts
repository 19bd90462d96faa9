import type { ColumnType, Generated, Insertable, Kysely, Selectable, Transaction, Updateable } from "kysely";

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json = ColumnType<Record<string, unknown>, string | undefined, string>;

export interface UsersTable {
  user_id: string;
  stripe_customer_id: string | null;
  plan_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** The billing period starts on this day of the month and time of day (UTC); null: calendar months. */
  billing_cycle_anchor: NullableTimestamp;
  /** Set: every key of the user is refused (402 payment_required) until a payment lifts it. */
  suspended_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** The type of the Stripe event that suspended the user, such as invoice.payment_failed. */
  suspended_reason: ColumnType<string | null, string | null | undefined, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export type Overage = "block" | "bill";

export interface PlansTable {
  id: string;
  name: string;
  rate_limit_per_minute: number | null;
  rate_limit_per_day: number | null;
  /** Units per billing period; null: unlimited. bigint: read back as a string. */
  monthly_quota: ColumnType<string | null, number | string | null, number | string | null>;
  overage: ColumnType<Overage, Overage | undefined, Overage>;
  /** Fractions in (0, 1] of the quota at which a quota.threshold event is sent. */
  alert_thresholds: ColumnType<number[], number[] | undefined, number[]>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface ApiKeysTable {
  id: string;
  user_id: string;
  name: string;
  key_hash: string;
  key_start: string;
  previous_key_hash: string | null;
  previous_key_expires_at: NullableTimestamp;
  rotated_at: NullableTimestamp;
  scopes: Generated<string[]>;
  rate_limit_per_minute: number | null;
  rate_limit_per_day: number | null;
  metadata: Json;
  stripe_customer_id: string | null;
  enabled: Generated<boolean>;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
  last_used_at: NullableTimestamp;
  created_by: ColumnType<Actor, string | undefined, string>;
}

/** Who made a change: the admin token, a management key, or a Stripe webhook event. */
export type Actor =
  | { type: "admin_token" }
  | { type: "management_key"; id: string; name: string }
  | { type: "stripe_webhook"; event_id: string };

export interface ManagementKeysTable {
  id: string;
  name: string;
  key_hash: string;
  key_start: string;
  scopes: string[];
  /** Set: the key acts only on this user's keys and usage. */
  user_id: string | null;
  expires_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  created_by: ColumnType<Actor, string, string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface AuditEventsTable {
  id: ColumnType<string, never, never>;
  occurred_at: Timestamp;
  action: string;
  key_id: string | null;
  user_id: string | null;
  request_id: string | null;
  client_ip: string | null;
  changes: Json;
  /** "admin_token", a management key id or "stripe_webhook": what `?actor_id=` filters on. */
  actor_id: ColumnType<string, string | undefined, string>;
  actor: ColumnType<Actor, string | undefined, string>;
  management_key_id: string | null;
}

export interface AuthzCountsTable {
  key_id: string;
  minute: ColumnType<Date, Date | string, Date | string>;
  /** bigint: read back as a string. */
  allowed: ColumnType<string, number | string | undefined, number | string>;
  denied: ColumnType<string, number | string | undefined, number | string>;
  /** Units (cost-weighted) of the allowed checks. */
  allowed_units: ColumnType<string, number | string | undefined, number | string>;
  updated_at: Timestamp;
}

type BigCount = ColumnType<string, number | string | undefined, number | string>;

export interface UsageMinutesTable {
  key_id: string;
  minute: ColumnType<Date, Date | string, Date | string>;
  user_id: string;
  stripe_customer_id: string | null;
  requests: BigCount;
  billable_requests: BigCount;
  billable_units: BigCount;
  bytes_in: BigCount;
  bytes_out: BigCount;
  status_2xx: BigCount;
  status_3xx: BigCount;
  status_4xx: BigCount;
  status_5xx: BigCount;
  /** Units recorded without a customer that a backfill enqueued for Stripe once one was set. */
  backfilled_units: BigCount;
  /** Units recorded without a customer that were past Stripe's 35-day window when one was set. */
  unbillable_units: BigCount;
  /** The customer a backfill billed this row's customerless units to. */
  backfill_customer_id: ColumnType<string | null, string | null | undefined, string | null>;
  /** Null while the row holds customerless units no backfill has settled. */
  backfilled_at: NullableTimestamp;
  updated_at: Timestamp;
}

export interface UsageBatchesTable {
  batch_id: string;
  entries: number;
  written_at: Timestamp;
}

export type OutboxStatus = "pending" | "sent" | "dead";
/** usage: a window's (difference of) usage; backfill: customerless usage billed once a customer was set. */
export type OutboxKind = "usage" | "backfill";

export interface StripeOutboxTable {
  id: ColumnType<string, never, never>;
  identifier: string;
  stripe_customer_id: string;
  event_name: string;
  window_start: ColumnType<Date, Date | string, Date | string>;
  value: BigCount;
  status: ColumnType<OutboxStatus, OutboxStatus | undefined, OutboxStatus>;
  kind: ColumnType<OutboxKind, OutboxKind | undefined, OutboxKind>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  last_error: string | null;
  created_at: Timestamp;
  sent_at: NullableTimestamp;
}

export type WebhookEventType = "key.created" | "key.rotated" | "key.revoked" | "quota.threshold";

export interface WebhooksTable {
  id: string;
  url: string;
  events: WebhookEventType[];
  /** The Standard Webhooks signing secret (`whsec_…`): never logged, shown once at creation. */
  secret: string;
  /** Set: only this user's events are sent to it. */
  user_id: string | null;
  created_by: ColumnType<Actor, string, string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface WebhookEventsTable {
  id: string;
  type: WebhookEventType;
  user_id: string | null;
  /** The body sent: `{ type, timestamp, data }`. */
  payload: Json;
  created_at: Timestamp;
}

export type DeliveryStatus = "pending" | "delivered" | "dead";

export interface WebhookDeliveriesTable {
  /** bigserial: read back as a string. */
  id: ColumnType<string, never, never>;
  webhook_id: string;
  event_id: string;
  status: ColumnType<DeliveryStatus, DeliveryStatus | undefined, DeliveryStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: Timestamp;
  last_error: ColumnType<string | null, string | null | undefined, string | null>;
  last_status_code: ColumnType<number | null, number | null | undefined, number | null>;
  delivered_at: NullableTimestamp;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface QuotaAlertsTable {
  user_id: string;
  period_start: ColumnType<Date, Date | string, Date | string>;
  threshold: number;
  event_id: string;
  created_at: Timestamp;
}

export type StripeWebhookOutcome = "applied" | "stale" | "ignored";

/** One row per Stripe event id received: a redelivery finds its row and changes nothing. */
export interface StripeWebhookEventsTable {
  id: string;
  type: string;
  /** The event's `created`: what ordering compares. */
  created: ColumnType<Date, Date | string, Date | string>;
  stripe_customer_id: string | null;
  outcome: StripeWebhookOutcome;
  users_changed: ColumnType<number, number | undefined, number>;
  received_at: Timestamp;
}

/** Per Stripe customer, the newest suspension-affecting event applied: an older one is not. */
export interface StripeCustomerBillingTable {
  stripe_customer_id: string;
  last_event_created: ColumnType<Date, Date | string, Date | string>;
  last_event_id: string;
  updated_at: Timestamp;
}

/** BILLING_SOURCE=checks: where the billing sidecar is in authz_counts (one row per source). */
export interface ChecksCursorTable {
  source: string;
  /** Minutes from this one on are billed from checks. */
  bill_from: ColumnType<Date, Date | string, Date | string>;
  /** Every authz_counts row updated before this (less a margin) has been taken. */
  scanned_to: ColumnType<Date, Date | string, Date | string>;
  updated_at: Timestamp;
}

export interface Database {
  usage_minutes: UsageMinutesTable;
  usage_batches: UsageBatchesTable;
  stripe_outbox: StripeOutboxTable;
  users: UsersTable;
  authz_counts: AuthzCountsTable;
  checks_cursor: ChecksCursorTable;
  api_keys: ApiKeysTable;
  audit_events: AuditEventsTable;
  management_keys: ManagementKeysTable;
  plans: PlansTable;
  webhooks: WebhooksTable;
  webhook_events: WebhookEventsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  quota_alerts: QuotaAlertsTable;
  stripe_webhook_events: StripeWebhookEventsTable;
  stripe_customer_billing: StripeCustomerBillingTable;
}

export type ApiKeyRow = Selectable<ApiKeysTable>;
export type NewApiKey = Insertable<ApiKeysTable>;
export type ApiKeyUpdate = Updateable<ApiKeysTable>;
export type UserRow = Selectable<UsersTable>;
export type PlanRow = Selectable<PlansTable>;
export type NewPlan = Insertable<PlansTable>;
export type ManagementKeyRow = Selectable<ManagementKeysTable>;
export type NewManagementKey = Insertable<ManagementKeysTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type NewAuditEvent = Insertable<AuditEventsTable>;
export type WebhookRow = Selectable<WebhooksTable>;
export type NewWebhook = Insertable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;

/** What repository functions take: the database, or a transaction a service opened. */
export type Queryable = Kysely<Database> | Transaction<Database>;
