import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { type CheckPathKeyRow, findKeysByHashes, recentlyUsedKeys } from "../keys/keys.repository.js";
import type { AuthKey } from "./decision.js";
import type { KeyCache } from "./key-cache.js";
import type { AuthzMetrics } from "./metrics.js";
import type { Limits } from "./sliding-window.js";

export interface KeyLookupSettings {
  defaults: Limits;
  ttlMs: number;
  negativeTtlMs: number;
  timeoutMs: number;
  /** Beyond this many lookups waiting on Postgres, further misses are refused at once. */
  maxInFlight: number;
}

/** Postgres could not answer in time; the caller answers 503, never "unknown key". */
export class KeyStoreUnavailable extends Error {
  override name = "KeyStoreUnavailable";
}

interface Waiting {
  resolve: (key: AuthKey | null) => void;
  reject: (err: unknown) => void;
}

/** At most this many hashes in one query. */
const MAX_BATCH = 500;

/** The scopes of every key that has none: one set, not one per cached key. */
const NO_SCOPES: ReadonlySet<string> = new Set();

/**
 * Finds a key by secret hash: from the cache when it has the hash, else from Postgres. Misses are
 * looked up together: the hashes missed during one turn of the event loop go in one query (a cold
 * replica taking full traffic asks for hundreds of keys a second), and a hash is asked for once
 * however many checks wait for it. A fresh-enough entry answers at once; an old one answers at
 * once too and is refreshed behind the scenes; when Postgres fails, what the cache has keeps serving.
 */
export class KeyLookup {
  private readonly inFlight = new Map<string, Promise<AuthKey | null>>();
  /** Hashes waiting for the next batch query. */
  private batch = new Map<string, Waiting>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly cache: KeyCache,
    private readonly settings: KeyLookupSettings,
    private readonly metrics: AuthzMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The key for a secret hash, or null for none. A cached answer is returned as is, not wrapped in a
   * promise: nearly every check is one, and a promise more per check is work for the event loop
   * and the garbage collector. Only a miss waits on Postgres.
   */
  find(hash: string): AuthKey | null | Promise<AuthKey | null> {
    const entry = this.cache.get(hash);
    if (entry) {
      const age = this.now() - entry.fetchedAt;
      if (entry.key === null && age < this.settings.negativeTtlMs) {
        this.metrics.cache.inc({ result: "negative_hit" });
        return null;
      }
      if (entry.key !== null) {
        if (age < this.settings.ttlMs) {
          this.metrics.cacheHits.inc();
        } else {
          this.metrics.cache.inc({ result: "stale" });
          this.fetch(hash).catch(() => {}); // refreshed behind the scenes; failures are counted there
        }
        return entry.key;
      }
    }
    this.metrics.cache.inc({ result: "miss" });
    return this.withTimeout(this.fetch(hash));
  }

  /**
   * Caches the keys used since `since`, most recently used first, up to `limit`, before this replica
   * takes checks: one that starts cold under load misses thousands of keys at once, and those checks
   * wait on Postgres or fail at KEY_LOOKUP_TIMEOUT. A rotated-out secret still in its grace period is
   * cached with its key. The entries' ages are spread over half the TTL, so their background
   * refreshes do not all come due in the same second. Returns how many keys were cached.
   */
  async prewarm(db: Kysely<Database>, since: Date, limit: number): Promise<number> {
    const read = this.cache.beginRead();
    try {
      const rows = await recentlyUsedKeys(db, since, limit);
      const now = this.now();
      let cached = 0;
      for (const row of rows) {
        const key = this.toAuthKey(row, row.key_hash);
        if (this.cache.changedSince(read, key)) continue; // changed while read: looked up on first use
        const fetchedAt = now - Math.random() * (this.settings.ttlMs / 2);
        this.cache.set(row.key_hash, key, fetchedAt);
        const graceEndsAt = row.previous_key_expires_at?.getTime() ?? 0;
        if (row.previous_key_hash && graceEndsAt > now) {
          this.cache.set(row.previous_key_hash, this.toAuthKey(row, row.previous_key_hash), fetchedAt);
        }
        cached += 1;
      }
      return cached;
    } finally {
      this.cache.endRead();
    }
  }

  private fetch(hash: string): Promise<AuthKey | null> {
    const pending = this.inFlight.get(hash);
    if (pending) return pending;
    if (this.inFlight.size >= this.settings.maxInFlight) {
      return Promise.reject(new KeyStoreUnavailable("too many key lookups waiting on Postgres"));
    }
    const promise = new Promise<AuthKey | null>((resolve, reject) => {
      if (this.batch.size === 0) setImmediate(() => this.lookUpBatch());
      this.batch.set(hash, { resolve, reject });
    }).finally(() => this.inFlight.delete(hash));
    this.inFlight.set(hash, promise);
    return promise;
  }

  private lookUpBatch(): void {
    const hashes = [...this.batch.keys()].slice(0, MAX_BATCH);
    const waiting = hashes.map((hash) => this.batch.get(hash) as Waiting);
    for (const hash of hashes) this.batch.delete(hash);
    if (this.batch.size > 0) setImmediate(() => this.lookUpBatch());
    this.metrics.storeQueries.inc();
    const fetchedAt = this.now();
    const read = this.cache.beginRead();
    findKeysByHashes(this.db, hashes)
      .then(
        (rows) => {
          const byHash = new Map<string, CheckPathKeyRow>();
          for (const row of rows) {
            byHash.set(row.key_hash, row);
            if (row.previous_key_hash) byHash.set(row.previous_key_hash, row);
          }
          // A key changed (evicted) while this query ran may have been read before the change
          // committed: the row answers the checks that were waiting, which raced the change, but is
          // not cached, where it would outlive the change until KEY_CACHE_TTL. The next check reads again.
          hashes.forEach((hash, i) => {
            const row = byHash.get(hash);
            const key = row ? this.toAuthKey(row, hash) : null;
            if (key === null || !this.cache.changedSince(read, key)) this.cache.set(hash, key, fetchedAt);
            waiting[i]?.resolve(key);
          });
        },
        (err: unknown) => {
          const unavailable = new KeyStoreUnavailable("the key store could not be reached", { cause: err });
          for (const waiter of waiting) {
            this.metrics.errors.inc({ dependency: "postgres", operation: "key_lookup" });
            waiter.reject(unavailable);
          }
        },
      )
      .finally(() => this.cache.endRead());
  }

  private withTimeout(promise: Promise<AuthKey | null>): Promise<AuthKey | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.metrics.errors.inc({ dependency: "postgres", operation: "key_lookup_timeout" });
        reject(new KeyStoreUnavailable(`the key store did not answer within ${this.settings.timeoutMs} ms`));
      }, this.settings.timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  private toAuthKey(row: CheckPathKeyRow, hash: string): AuthKey {
    const rotatedOut = row.key_hash !== hash;
    return {
      id: row.id,
      userId: row.user_id,
      scopes: row.scopes.length === 0 ? NO_SCOPES : new Set(row.scopes),
      // The key's own limit, else its user's plan's, else the configured default.
      limits: {
        perMinute:
          row.rate_limit_per_minute ?? row.plan_rate_limit_per_minute ?? this.settings.defaults.perMinute,
        perDay: row.rate_limit_per_day ?? row.plan_rate_limit_per_day ?? this.settings.defaults.perDay,
      },
      stripeCustomerId: row.stripe_customer_id ?? row.user_stripe_customer_id,
      enabled: row.enabled,
      expiresAt: row.expires_at?.getTime() ?? null,
      revokedAt: row.revoked_at?.getTime() ?? null,
      // A rotated-out secret with no grace period left is as good as unknown.
      graceEndsAt: rotatedOut ? (row.previous_key_expires_at?.getTime() ?? 0) : null,
      plan:
        row.plan_id === null
          ? null
          : {
              id: row.plan_id,
              monthlyQuota: row.plan_monthly_quota === null ? null : Number(row.plan_monthly_quota),
              overage: row.plan_overage ?? "block",
              alertThresholds: row.plan_alert_thresholds ?? [],
            },
      billingAnchor: row.billing_cycle_anchor?.getTime() ?? null,
      suspendedAt: row.suspended_at?.getTime() ?? null,
    };
  }
}
