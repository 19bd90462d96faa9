import type { Logger } from "@gateway/common";
import { hashKey, type KeyFormat } from "../keys/key-format.js";
import { billingPeriod, secondsToEnd } from "../plans/billing-period.js";
import { type CredentialHeaders, findCredential, type RequestHeaders } from "./credentials.js";
import type { AuthKey, Decision } from "./decision.js";
import { type KeyLookup, KeyStoreUnavailable } from "./key-lookup.js";
import type { AuthzMetrics } from "./metrics.js";
import { ignoreQuotaAlerts, type QuotaAlerts } from "./quota-alerts.js";
import type { LimitOptions, LimitResult, QuotaRequest, RateLimiter } from "./sliding-window.js";
import type { UsageRecorder } from "./usage-recorder.js";

/** The most units one request may cost. */
export const MAX_COST = 1_000_000;

export interface SecretCheckOptions {
  /** Scopes the route requires; the key must hold all of them. */
  requiredScopes: string[];
  /**
   * Units the request counts for, in every window and the quota: a whole number 1–MAX_COST, default 1.
   * Anything else (NaN from an unreadable route setting) is a misconfigured route.
   */
  cost?: number;
  /** false: decide as a request would be decided, but count nothing and record no usage (default true). */
  consume?: boolean;
  /** A caller that may only see this user's keys: any other user's key is answered as unknown. */
  onlyUserId?: string;
}

export interface CheckInput extends SecretCheckOptions, RequestHeaders {}

export interface KeyCheckerDeps {
  format: KeyFormat;
  credentialHeaders: CredentialHeaders;
  lookup: KeyLookup;
  limiter: RateLimiter;
  /** Used when Redis fails: a local limiter ("open"), or null to refuse with 503 ("closed"). */
  fallback: RateLimiter | null;
  usage: UsageRecorder;
  /** Told when a check takes a user past one of their plan's alert thresholds. */
  quotaAlerts?: QuotaAlerts;
  /** Refuse keys with no Stripe customer (neither the key's own nor its user's): REQUIRE_BILLING_CUSTOMER. */
  requireBillingCustomer?: boolean;
  metrics: AuthzMetrics;
  logger: Logger;
  now?: () => number;
}

const RETRY_UNAVAILABLE_SECONDS = 1;

/**
 * The ext_authz decision, in this order: find the key in the headers → its format and checksum (no
 * lookup for a malformed key) → the key record (cache, then Postgres) → revoked / expired / disabled →
 * the user suspended for non-payment → a Stripe customer, when required → the route's required
 * scopes → the per-minute and per-day limits and the plan's monthly quota (one Redis round trip).
 */
export class KeyChecker {
  private readonly now: () => number;
  private readonly quotaAlerts: QuotaAlerts;
  /** Per key record: its quota for the current period and the limiter's options for it, by cost. */
  private readonly quotas = new WeakMap<AuthKey, KeptQuota>();
  /** When each invalid route cost was last logged: a misconfigured busy route logs once a minute. */
  private readonly costLogged = new Map<number | string, number>();

  constructor(private readonly deps: KeyCheckerDeps) {
    this.now = deps.now ?? Date.now;
    this.quotaAlerts = deps.quotaAlerts ?? ignoreQuotaAlerts;
  }

  /**
   * The decision for a request. Returned as is when no round trip was needed (a denial before the
   * limiter), else as a promise: a check of a cached key makes one promise of its own, for the
   * limiter's answer, and none while it waits for it.
   */
  check(input: CheckInput): Decision | Promise<Decision> {
    const credential = findCredential(input, this.deps.credentialHeaders);
    if (credential.kind === "none") {
      return deny("MISSING", "send an API key as Authorization: Bearer <key>");
    }
    if (credential.kind === "malformed") return deny("MALFORMED", "the API key is malformed");
    return this.checkSecret(credential.key, input);
  }

  /** The decision for a secret already taken from the request: the rest of check(), for every caller. */
  checkSecret(secret: string, options: SecretCheckOptions): Decision | Promise<Decision> {
    const cost = options.cost ?? 1;
    if (!Number.isInteger(cost) || cost < 1 || cost > MAX_COST) return this.misconfigured(options.cost);
    if (!this.deps.format.isWellFormed(secret)) return deny("MALFORMED", "the API key is malformed");
    const found = this.deps.lookup.find(hashKey(secret));
    if (!(found instanceof Promise)) return this.checkKey(found, options, cost);
    return found.then(
      (key) => this.checkKey(key, options, cost),
      (err: unknown) => {
        if (!(err instanceof KeyStoreUnavailable)) throw err;
        return {
          ...deny("UNAVAILABLE", "the key service is temporarily unavailable"),
          retryAfterSeconds: RETRY_UNAVAILABLE_SECONDS,
        };
      },
    );
  }

  /** checkSecret() once the key record is known: its state, billing, scopes, then the limits. */
  private checkKey(
    key: AuthKey | null,
    options: SecretCheckOptions,
    cost: number,
  ): Decision | Promise<Decision> {
    if (!key || (options.onlyUserId !== undefined && key.userId !== options.onlyUserId)) {
      return deny("UNKNOWN", "the API key is not valid");
    }
    const consume = options.consume !== false;
    const now = this.now();
    const refusal = this.stateRefusal(key, now);
    if (refusal) {
      if (consume) this.deps.usage.record(key.id, false, now);
      return { ...refusal, key };
    }
    // Usage of a key without a customer would be recorded but could not be billed (docs/BILLING.md).
    if (this.deps.requireBillingCustomer && key.stripeCustomerId === null) {
      if (consume) this.deps.usage.record(key.id, false, now);
      return {
        ...deny("BILLING_REQUIRED", "the API key's account has no billing set up (no Stripe customer)"),
        key,
      };
    }

    const missing = options.requiredScopes.filter((scope) => !key.scopes.has(scope));
    if (missing.length > 0) {
      if (consume) this.deps.usage.record(key.id, false, now);
      return { ...deny("MISSING_SCOPE", `the API key lacks the scope ${missing.join(", ")}`), key };
    }

    const plan = key.plan;
    let limitOptions: LimitOptions = options;
    if (plan?.monthlyQuota != null) {
      limitOptions = this.quotaOptions(key, plan.monthlyQuota, plan.overage, now, cost, consume);
    }
    // Without a quota the options object is passed on as is: the gRPC path allocates nothing for it.
    const answer = this.limiterCheck(this.deps.limiter, key, now, limitOptions);
    if (!(answer instanceof Promise)) return this.decide(key, answer, now, cost, consume);
    // One then() for both outcomes: the limiter's answer, or its failure and the fallback's.
    return answer.then(
      (limits) => this.decide(key, limits, now, cost, consume),
      (err: unknown) =>
        this.fallback(err, key, now, limitOptions).then((limits) =>
          this.decide(key, limits, now, cost, consume),
        ),
    );
  }

  /** The decision once the limits are known; `limits` null when rate limiting is unavailable. */
  private decide(
    key: AuthKey,
    limits: LimitResult | null,
    now: number,
    cost: number,
    consume: boolean,
  ): Decision {
    if (!limits) {
      if (consume) this.deps.usage.record(key.id, false, now);
      return {
        ...deny("UNAVAILABLE", "rate limiting is temporarily unavailable"),
        key,
        retryAfterSeconds: RETRY_UNAVAILABLE_SECONDS,
      };
    }
    if (consume) this.deps.usage.record(key.id, limits.allowed, now, cost);
    const quota = limits.quota;
    if (!limits.allowed) {
      if (quota?.exceeded) {
        return {
          ...deny("QUOTA_EXCEEDED", "the monthly quota of the API key's plan is used up"),
          key,
          limits,
          retryAfterSeconds: secondsToEnd({ start: quota.periodStart, end: quota.periodEnd }, now),
        };
      }
      return {
        ...deny("RATE_LIMITED", "the API key's rate limit is exceeded"),
        key,
        limits,
        retryAfterSeconds: Math.max(1, Math.ceil(limits.retryAfterMs / 1000)),
      };
    }
    const plan = key.plan;
    if (quota && consume && plan) this.alertCrossings(key, plan.alertThresholds, quota, cost);
    return { allowed: true, key, limits, units: cost };
  }

  /**
   * The limiter's options for a check of a key on a plan with a quota: the quota for the period `now`
   * falls in, and the cost. Kept beside the key record until the period ends (a changed key or plan is
   * a new record), one options object per cost, so a check computes no dates and allocates nothing.
   */
  private quotaOptions(
    key: AuthKey,
    limit: number,
    overage: "block" | "bill",
    now: number,
    cost: number,
    consume: boolean,
  ): LimitOptions {
    let kept = this.quotas.get(key);
    if (!kept || now < kept.quota.periodStart || now >= kept.quota.periodEnd) {
      const period = billingPeriod(key.billingAnchor, now);
      const quota = { limit, periodStart: period.start, periodEnd: period.end, block: overage === "block" };
      kept = { quota, byCost: [] };
      this.quotas.set(key, kept);
    }
    if (!consume) return { cost, consume, quota: kept.quota };
    for (const o of kept.byCost) if (o.cost === cost) return o;
    const options = { cost, consume, quota: kept.quota };
    if (kept.byCost.length < 100) kept.byCost.push(options);
    return options;
  }

  /** Reports each alert threshold this check's units took the user's usage past. */
  private alertCrossings(
    key: AuthKey,
    thresholds: number[],
    quota: NonNullable<LimitResult["quota"]>,
    cost: number,
  ): void {
    const before = quota.used - cost;
    for (const threshold of thresholds) {
      const mark = threshold * quota.limit;
      if (before < mark && quota.used >= mark) {
        this.quotaAlerts.crossed({
          userId: key.userId,
          planId: key.plan?.id ?? "",
          periodStart: new Date(quota.periodStart),
          periodEnd: new Date(quota.periodEnd),
          threshold,
          monthlyQuota: quota.limit,
          used: quota.used,
        });
      }
    }
  }

  /** A route whose cost is not a whole number 1–MAX_COST: never counted as 1, refused as the gateway's fault. */
  private misconfigured(cost: unknown): Decision {
    const now = this.now();
    const shown = typeof cost === "number" && !Number.isNaN(cost) ? cost : String(cost);
    if (now - (this.costLogged.get(shown) ?? 0) >= 60_000) {
      if (this.costLogged.size > 1_000) this.costLogged.clear();
      this.costLogged.set(shown, now);
      this.deps.logger.error(
        { cost: shown },
        `route misconfigured: context_extensions.cost (X-Request-Cost on the forward-auth endpoint) must be a whole number from 1 to ${MAX_COST}; requests on it are refused with 500`,
      );
    }
    return deny("MISCONFIGURED", "the gateway route is misconfigured");
  }

  private stateRefusal(key: AuthKey, now: number) {
    if (key.revokedAt !== null) return deny("REVOKED", "the API key has been revoked");
    if (key.graceEndsAt !== null && key.graceEndsAt <= now) {
      return deny("ROTATED", "the API key was rotated; use its replacement");
    }
    if (key.expiresAt !== null && key.expiresAt <= now) return deny("EXPIRED", "the API key has expired");
    if (!key.enabled) return deny("DISABLED", "the API key is disabled");
    if (key.suspendedAt !== null) {
      return deny(
        "PAYMENT_REQUIRED",
        "the account is suspended for non-payment; its keys work again once paid",
      );
    }
    return null;
  }

  /** A limiter's answer, a limiter that throws instead of rejecting included. */
  private limiterCheck(
    limiter: RateLimiter,
    key: AuthKey,
    now: number,
    options: LimitOptions,
  ): LimitResult | Promise<LimitResult> {
    try {
      return limiter.check(key, key.limits, now, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** After Redis failed: the local limiter when the failure mode is open, else null (refuse). */
  private async fallback(err: unknown, key: AuthKey, now: number, options: LimitOptions) {
    this.deps.metrics.errors.inc({ dependency: "redis", operation: "rate_limit" });
    this.deps.logger.debug({ err: (err as Error).message }, "rate limit call failed");
    if (!this.deps.fallback) return null;
    try {
      return await this.limiterCheck(this.deps.fallback, key, now, options);
    } catch (fallbackErr) {
      // The local limiter reads Postgres for a quota it has not seen: with both away, refuse.
      this.deps.logger.debug({ err: (fallbackErr as Error).message }, "local rate limit failed");
      return null;
    }
  }
}

interface KeptQuota {
  quota: QuotaRequest;
  /** One options object per cost (a route has one; a key sees a handful): a short list, not a Map per key. */
  byCost: LimitOptions[];
}

function deny(reason: Exclude<Decision, { allowed: true }>["reason"], message: string) {
  return { allowed: false as const, reason, message };
}
