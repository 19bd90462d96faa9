import type { Logger } from "@gateway/common";
import { AppError } from "../errors.js";
import { hashKey, type KeyFormat } from "../keys/key-format.js";
import { type CredentialHeaders, findCredential } from "./credentials.js";
import type { AuthKey, Decision } from "./decision.js";
import { type KeyLookup, KeyStoreUnavailable } from "./key-lookup.js";
import type { LocalRateLimiter } from "./local-limiter.js";
import type { AuthzMetrics } from "./metrics.js";
import type { LimitOptions, RedisRateLimiter } from "./redis-limiter.js";
import type { LimitResult } from "./sliding-window.js";
import type { UsageRecorder } from "./usage-recorder.js";

export interface SecretCheckOptions {
  /** Scopes the route requires; the key must hold all of them. */
  requiredScopes: string[];
  /** Units of the key's rate limits the request counts for: a positive integer, default 1. */
  cost?: number;
  /** false: decide as a request would be decided, but count nothing and record no usage (default true). */
  consume?: boolean;
  /** A caller that may only see this user's keys: any other user's key is answered as unknown. */
  onlyUserId?: string;
}

export interface CheckInput extends SecretCheckOptions {
  /** A request header by lower-case name. */
  header: (name: string) => string | undefined;
}

export interface KeyCheckerDeps {
  format: KeyFormat;
  credentialHeaders: CredentialHeaders;
  lookup: KeyLookup;
  limiter: RedisRateLimiter;
  /** Used when Redis fails: a local limiter ("open"), or null to refuse with 503 ("closed"). */
  fallback: LocalRateLimiter | null;
  usage: UsageRecorder;
  metrics: AuthzMetrics;
  logger: Logger;
  now?: () => number;
}

const RETRY_UNAVAILABLE_SECONDS = 1;

/**
 * The ext_authz decision, in this order: find the key in the headers → its format and checksum (no
 * lookup for a malformed key) → the key record (cache, then Postgres) → revoked / expired / disabled →
 * the route's required scopes → the per-minute and per-day limits (one Redis round trip).
 */
export class KeyChecker {
  private readonly now: () => number;

  constructor(private readonly deps: KeyCheckerDeps) {
    this.now = deps.now ?? Date.now;
  }

  async check(input: CheckInput): Promise<Decision> {
    const credential = findCredential(input.header, this.deps.credentialHeaders);
    if (credential.kind === "none") {
      return deny("MISSING", "send an API key as Authorization: Bearer <key>");
    }
    if (credential.kind === "malformed") return deny("MALFORMED", "the API key is malformed");
    return this.checkSecret(credential.key, input);
  }

  /** The decision for a secret already taken from the request: the rest of check(), for every caller. */
  async checkSecret(secret: string, options: SecretCheckOptions): Promise<Decision> {
    const cost = options.cost ?? 1;
    if (!Number.isSafeInteger(cost) || cost < 1) throw AppError.invalid("cost", "must be a positive integer");
    const consume = options.consume !== false;
    if (!this.deps.format.isWellFormed(secret)) return deny("MALFORMED", "the API key is malformed");

    let key: AuthKey | null;
    try {
      key = await this.deps.lookup.find(hashKey(secret));
    } catch (err) {
      if (!(err instanceof KeyStoreUnavailable)) throw err;
      return {
        ...deny("UNAVAILABLE", "the key service is temporarily unavailable"),
        retryAfterSeconds: RETRY_UNAVAILABLE_SECONDS,
      };
    }
    if (!key || (options.onlyUserId !== undefined && key.userId !== options.onlyUserId)) {
      return deny("UNKNOWN", "the API key is not valid");
    }

    const now = this.now();
    const refusal = this.stateRefusal(key, now);
    if (refusal) {
      if (consume) this.deps.usage.record(key.id, false, now);
      return { ...refusal, key };
    }

    const missing = options.requiredScopes.filter((scope) => !key.scopes.has(scope));
    if (missing.length > 0) {
      if (consume) this.deps.usage.record(key.id, false, now);
      return { ...deny("MISSING_SCOPE", `the API key lacks the scope ${missing.join(", ")}`), key };
    }

    // The options object is passed on as is: the gRPC path then allocates nothing for it.
    const limits = await this.limit(key, now, options);
    if (!limits) {
      if (consume) this.deps.usage.record(key.id, false, now);
      return {
        ...deny("UNAVAILABLE", "rate limiting is temporarily unavailable"),
        key,
        retryAfterSeconds: RETRY_UNAVAILABLE_SECONDS,
      };
    }
    if (consume) this.deps.usage.record(key.id, limits.allowed, now);
    if (!limits.allowed) {
      return {
        ...deny("RATE_LIMITED", "the API key's rate limit is exceeded"),
        key,
        limits,
        retryAfterSeconds: Math.max(1, Math.ceil(limits.retryAfterMs / 1000)),
      };
    }
    return { allowed: true, key, limits };
  }

  private stateRefusal(key: AuthKey, now: number) {
    if (key.revokedAt !== null) return deny("REVOKED", "the API key has been revoked");
    if (key.graceEndsAt !== null && key.graceEndsAt <= now) {
      return deny("ROTATED", "the API key was rotated; use its replacement");
    }
    if (key.expiresAt !== null && key.expiresAt <= now) return deny("EXPIRED", "the API key has expired");
    if (!key.enabled) return deny("DISABLED", "the API key is disabled");
    return null;
  }

  /** null when Redis failed and the failure mode is closed. */
  private async limit(key: AuthKey, now: number, options: LimitOptions): Promise<LimitResult | null> {
    try {
      return await this.deps.limiter.check(key.id, key.limits, now, options);
    } catch (err) {
      this.deps.metrics.errors.inc({ dependency: "redis", operation: "rate_limit" });
      this.deps.logger.debug({ err: (err as Error).message }, "rate limit call failed");
      return this.deps.fallback ? this.deps.fallback.check(key.id, key.limits, now, options) : null;
    }
  }
}

function deny(reason: Exclude<Decision, { allowed: true }>["reason"], message: string) {
  return { allowed: false as const, reason, message };
}
