/**
 * The two windows every key is limited by. Each is a ring of buckets; a request is counted in the
 * bucket of its arrival time, and the window is the current bucket plus the `buckets - 1` before it.
 *
 * Guarantee (per window, exact, never exceeded): no interval of `span` ms ever holds more admitted
 * requests than the limit, because any such interval touches at most `buckets` consecutive buckets.
 * Cost of the guarantee: a request is refused when the limit was reached within the last
 * `span + bucketMs` ms, so a client that paces itself perfectly may wait up to one bucket longer.
 */
export interface WindowSpec {
  name: "minute" | "day";
  /** The interval the limit applies to, as shown in RateLimit-Policy (w=). */
  spanSeconds: number;
  bucketMs: number;
  /** spanSeconds * 1000 / bucketMs + 1: the current bucket plus the full span before it. */
  buckets: number;
}

export const MINUTE: WindowSpec = { name: "minute", spanSeconds: 60, bucketMs: 1_000, buckets: 61 };
export const DAY: WindowSpec = { name: "day", spanSeconds: 86_400, bucketMs: 900_000, buckets: 97 };

export interface WindowState {
  limit: number;
  /** Admitted requests currently inside the window (after this request, when it was admitted). */
  used: number;
  /** Milliseconds until the oldest admitted request leaves the window (0 when none is inside). */
  resetMs: number;
}

export interface LimitResult {
  allowed: boolean;
  minute: WindowState;
  day: WindowState;
  /** When refused: milliseconds until enough requests leave the window for this one to fit. */
  retryAfterMs: number;
  /** Which limiter decided: Redis, shared by every replica, or this replica's own fallback. */
  source: "redis" | "local";
  /** Present when the check carried a quota. */
  quota?: QuotaState;
}

export interface Limits {
  perMinute: number;
  perDay: number;
}

/** Whose windows and quota a check counts against: the key, and the user its quota is shared by. */
export interface LimitKey {
  id: string;
  userId: string;
}

/** A user's quota for the billing period a check falls in. */
export interface QuotaRequest {
  /** Units per period. */
  limit: number;
  periodStart: number;
  periodEnd: number;
  /** true: refuse past the quota; false: admit and count (the overage is billed). */
  block: boolean;
}

export interface QuotaState {
  limit: number;
  /** Units used in the period (after this request, when it was admitted and counted). */
  used: number;
  periodStart: number;
  periodEnd: number;
  /** Milliseconds from the check to the period's end. */
  resetMs: number;
  /** The quota is what refused the request. */
  exceeded: boolean;
}

export interface LimitOptions {
  /** Units the request counts for: a positive integer, default 1. */
  cost?: number;
  /** false: decide without counting anything (default true). */
  consume?: boolean;
  /** The user's quota, when their plan has one. */
  quota?: QuotaRequest;
}

/**
 * Both limiters answer this: Redis, shared by every replica, and the local fallback. An answer known
 * at once (a hot key's unit from its lease) comes as it is, not as a promise.
 */
export interface RateLimiter {
  check(
    key: LimitKey,
    limits: Limits,
    nowMs: number,
    options?: LimitOptions,
  ): LimitResult | Promise<LimitResult>;
}
