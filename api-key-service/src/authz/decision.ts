import type { LimitResult, Limits } from "./sliding-window.js";

/** What a user's plan adds to the check: a quota per billing period. */
export interface PlanTerms {
  id: string;
  /** Units per billing period; null: unlimited. */
  monthlyQuota: number | null;
  /** Past the quota: refuse ("block") or admit and bill ("bill"). */
  overage: "block" | "bill";
  /** Fractions of the quota at which a quota.threshold event is sent. */
  alertThresholds: number[];
}

/** What the hot path knows about a key: enough to decide, nothing secret. */
export interface AuthKey {
  id: string;
  userId: string;
  scopes: ReadonlySet<string>;
  /** The key's own limits with the configured defaults filled in. */
  limits: Limits;
  /** The key's own customer, else its user's. */
  stripeCustomerId: string | null;
  enabled: boolean;
  expiresAt: number | null;
  revokedAt: number | null;
  /** Set when the presented secret is the rotated-out one: the end of its grace period. */
  graceEndsAt: number | null;
  /** The user's plan, or null. */
  plan: PlanTerms | null;
  /** The user's billing-cycle anchor (Unix ms); null: calendar months. */
  billingAnchor: number | null;
  /** Set (Unix ms) while the user is suspended for non-payment: every key of theirs is refused. */
  suspendedAt: number | null;
}

export type DenialReason =
  | "MISSING"
  | "MALFORMED"
  | "UNKNOWN"
  | "ROTATED"
  | "EXPIRED"
  | "REVOKED"
  | "DISABLED"
  | "PAYMENT_REQUIRED"
  | "BILLING_REQUIRED"
  | "MISSING_SCOPE"
  | "RATE_LIMITED"
  | "QUOTA_EXCEEDED"
  | "UNAVAILABLE"
  | "MISCONFIGURED";

export type Decision =
  | {
      allowed: true;
      key: AuthKey;
      limits: LimitResult;
      /** The request's cost: what the access log, and so billing, counts it as. */
      units: number;
    }
  | {
      allowed: false;
      reason: DenialReason;
      message: string;
      key?: AuthKey;
      limits?: LimitResult;
      /** Seconds the client should wait (429 and 503; for a used-up quota, until the period ends). */
      retryAfterSeconds?: number;
    };

export const HTTP_STATUS: Record<DenialReason, 401 | 402 | 403 | 429 | 500 | 503> = {
  MISSING: 401,
  MALFORMED: 401,
  UNKNOWN: 401,
  ROTATED: 401,
  EXPIRED: 401,
  REVOKED: 401,
  DISABLED: 403,
  // Exactly what 402 names, and unlike 403 it tells the caller that paying, not a new key, fixes it.
  PAYMENT_REQUIRED: 402,
  // REQUIRE_BILLING_CUSTOMER: the key is fine, its account has no customer to bill; not 402, as
  // there is nothing to pay yet, only billing to set up.
  BILLING_REQUIRED: 403,
  MISSING_SCOPE: 403,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  UNAVAILABLE: 503,
  // The route's own configuration is wrong (an invalid cost): the gateway's fault, not the client's.
  MISCONFIGURED: 500,
};
