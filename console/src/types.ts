// What the management API answers (api-key-service/src/http/views.ts, served as /api/openapi.json).

export type Actor =
  | { type: "admin_token" }
  | { type: "management_key"; id: string; name: string }
  | { type: "stripe_webhook"; event_id: string };

export type KeyStatus = "active" | "disabled" | "expired" | "revoked";
export const KEY_STATUSES: readonly KeyStatus[] = ["active", "disabled", "expired", "revoked"];

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

export interface Key {
  id: string;
  user_id: string;
  name: string;
  start: string;
  status: KeyStatus;
  enabled: boolean;
  scopes: string[];
  rate_limit_per_minute: number | null;
  rate_limit_per_day: number | null;
  metadata: Record<string, unknown>;
  stripe_customer_id: string | null;
  expires_at: string | null;
  revoked_at: string | null;
  rotated_at: string | null;
  previous_key_expires_at: string | null;
  created_at: string;
  updated_at: string;
  last_used_at: string | null;
  created_by: Actor;
}

export interface KeyWithSecret extends Key {
  key: string;
}

export interface UserSummary {
  user_id: string;
  stripe_customer_id: string | null;
  plan_id: string | null;
  billing_cycle_anchor: string | null;
  suspended_at: string | null;
  suspended_reason: string | null;
  created_at: string;
  updated_at: string;
  keys: Record<KeyStatus | "total", number>;
  last_used_at: string | null;
}

export interface Quota {
  user_id: string;
  plan_id: string | null;
  period_start: string;
  period_end: string;
  monthly_quota: number | null;
  used: number;
  remaining: number | null;
  overage: "block" | "bill" | null;
}

export interface Plan {
  id: string;
  name: string;
  rate_limit_per_minute: number | null;
  rate_limit_per_day: number | null;
  monthly_quota: number | null;
  overage: "block" | "bill";
  alert_thresholds: number[];
  created_at: string;
  updated_at: string;
}

export interface AuditEvent {
  id: string;
  occurred_at: string;
  action: string;
  key_id: string | null;
  user_id: string | null;
  management_key_id: string | null;
  actor: Actor;
  request_id: string | null;
  client_ip: string | null;
  changes: Record<string, unknown>;
}

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  user_id: string | null;
  created_by: Actor;
  created_at: string;
  updated_at: string;
}

export interface WebhookDelivery {
  id: string;
  event_id: string;
  event_type: string;
  status: "pending" | "delivered" | "dead";
  attempts: number;
  last_error: string | null;
  last_status_code: number | null;
  next_attempt_at: string | null;
  delivered_at: string | null;
  created_at: string;
  updated_at: string;
}

export interface UsageWindow {
  key_id: string;
  window_start: string;
  allowed: number;
  denied: number;
  requests: number;
  billable_requests: number;
  billable_units: number;
  gap: number;
}

export interface StripeDay {
  stripe_customer_id: string;
  day: string;
  sent: number;
  pending: number;
  dead: number;
}

export interface UsageReport {
  data: UsageWindow[];
  stripe: StripeDay[];
  totals: Record<string, number>;
}

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
