import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { findKeyByHash } from "../keys/keys.repository.js";
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

/**
 * Finds a key by secret hash: from the cache when it has the hash, else from Postgres (one query per
 * hash however many checks wait for it). A fresh-enough entry answers at once; an old one answers at
 * once too and is refreshed behind the scenes; when Postgres fails, what the cache has keeps serving.
 */
export class KeyLookup {
  private readonly inFlight = new Map<string, Promise<AuthKey | null>>();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly cache: KeyCache,
    private readonly settings: KeyLookupSettings,
    private readonly metrics: AuthzMetrics,
    private readonly now: () => number = Date.now,
  ) {}

  async find(hash: string): Promise<AuthKey | null> {
    const entry = this.cache.get(hash);
    const now = this.now();
    if (entry) {
      const age = now - entry.fetchedAt;
      if (entry.key === null && age < this.settings.negativeTtlMs) {
        this.metrics.cache.inc({ result: "negative_hit" });
        return null;
      }
      if (entry.key !== null) {
        if (age < this.settings.ttlMs) {
          this.metrics.cache.inc({ result: "hit" });
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

  private fetch(hash: string): Promise<AuthKey | null> {
    const pending = this.inFlight.get(hash);
    if (pending) return pending;
    if (this.inFlight.size >= this.settings.maxInFlight) {
      return Promise.reject(new KeyStoreUnavailable("too many key lookups waiting on Postgres"));
    }
    this.metrics.storeQueries.inc();
    const fetchedAt = this.now();
    const promise = findKeyByHash(this.db, hash)
      .then((row) => {
        const key = row ? this.toAuthKey(row, hash) : null;
        this.cache.set(hash, key, fetchedAt);
        return key;
      })
      .catch((err: unknown) => {
        this.metrics.errors.inc({ dependency: "postgres", operation: "key_lookup" });
        throw new KeyStoreUnavailable("the key store could not be reached", { cause: err });
      })
      .finally(() => this.inFlight.delete(hash));
    this.inFlight.set(hash, promise);
    return promise;
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

  private toAuthKey(row: NonNullable<Awaited<ReturnType<typeof findKeyByHash>>>, hash: string): AuthKey {
    const rotatedOut = row.key_hash !== hash;
    return {
      id: row.id,
      userId: row.user_id,
      scopes: new Set(row.scopes),
      limits: {
        perMinute: row.rate_limit_per_minute ?? this.settings.defaults.perMinute,
        perDay: row.rate_limit_per_day ?? this.settings.defaults.perDay,
      },
      stripeCustomerId: row.stripe_customer_id ?? row.user_stripe_customer_id,
      enabled: row.enabled,
      expiresAt: row.expires_at?.getTime() ?? null,
      revokedAt: row.revoked_at?.getTime() ?? null,
      // A rotated-out secret with no grace period left is as good as unknown.
      graceEndsAt: rotatedOut ? (row.previous_key_expires_at?.getTime() ?? 0) : null,
    };
  }
}
