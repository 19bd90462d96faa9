import type { Decision, DenialReason } from "../authz/decision.js";
import type { WindowState } from "../authz/sliding-window.js";

/** The verify API's answer codes, after Unkey's: one per way a key can fail, and VALID. */
export const VERIFY_CODES = [
  "VALID",
  "MALFORMED",
  "NOT_FOUND",
  "EXPIRED",
  "REVOKED",
  "DISABLED",
  "MISSING_SCOPE",
  "RATE_LIMITED",
  "QUOTA_EXCEEDED",
  "UNAVAILABLE",
] as const;

export type VerifyCode = (typeof VERIFY_CODES)[number];

/**
 * Each denial of the check as a verify code. MISSING cannot happen (the body requires a key); a
 * rotated-out secret whose grace period is over has expired. A new reason does not compile until it
 * is mapped here.
 */
const CODE: Record<DenialReason, VerifyCode> = {
  MISSING: "MALFORMED",
  MALFORMED: "MALFORMED",
  UNKNOWN: "NOT_FOUND",
  ROTATED: "EXPIRED",
  EXPIRED: "EXPIRED",
  REVOKED: "REVOKED",
  DISABLED: "DISABLED",
  // The code list is fixed (Unkey's): a suspended account's key is, for now, as good as disabled.
  PAYMENT_REQUIRED: "DISABLED",
  // Likewise fixed: a key whose account has no customer to bill cannot be used until one is set,
  // which is what DISABLED tells a caller (README, the verify API).
  BILLING_REQUIRED: "DISABLED",
  MISSING_SCOPE: "MISSING_SCOPE",
  RATE_LIMITED: "RATE_LIMITED",
  QUOTA_EXCEEDED: "QUOTA_EXCEEDED",
  UNAVAILABLE: "UNAVAILABLE",
  // Only a gateway route can carry an invalid cost; the verify API validates its own.
  MISCONFIGURED: "UNAVAILABLE",
};

export interface VerifyResult {
  valid: boolean;
  code: VerifyCode;
  key_id?: string;
  user_id?: string;
  scopes?: string[];
  /** The window closest to running out; `reset` is when its oldest counted request leaves (Unix ms). */
  rate_limit?: { limit: number; remaining: number; reset: number };
  /** The user's monthly quota, when their plan has one; `reset` is the period's end (Unix ms). */
  quota?: { limit: number; used: number; remaining: number; reset: number };
}

const remaining = (w: WindowState) => Math.max(0, w.limit - w.used);

/** What the verify API answers for a decision of the KeyChecker. */
export function toVerifyResult(decision: Decision, nowMs: number): VerifyResult {
  const result: VerifyResult = {
    valid: decision.allowed,
    code: decision.allowed ? "VALID" : CODE[decision.reason],
  };
  // A key that failed before its record was read (malformed, unknown) shows nothing of itself.
  if (decision.key) {
    result.key_id = decision.key.id;
    result.user_id = decision.key.userId;
    result.scopes = [...decision.key.scopes].sort();
  }
  if (decision.limits) {
    const { minute, day } = decision.limits;
    const tightest = remaining(day) < remaining(minute) ? day : minute;
    result.rate_limit = {
      limit: tightest.limit,
      remaining: remaining(tightest),
      reset: nowMs + tightest.resetMs,
    };
    const quota = decision.limits.quota;
    if (quota) {
      result.quota = {
        limit: quota.limit,
        used: quota.used,
        remaining: Math.max(0, quota.limit - quota.used),
        reset: quota.periodEnd,
      };
    }
  }
  return result;
}
