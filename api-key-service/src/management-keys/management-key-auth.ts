import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { LRUCache } from "lru-cache";
import type { Principal, Scope } from "../access/scopes.js";
import { hashKey } from "../keys/key-format.js";
import { RacedReads } from "../raced-reads.js";
import { findManagementKeyByHash } from "./management-keys.repository.js";

/** What a presented management key turned out to be. */
export type ManagementKeyCheck =
  | { kind: "valid"; principal: Principal }
  | { kind: "unknown" }
  | { kind: "revoked" }
  | { kind: "expired" };

interface Entry {
  id: string | null;
  name: string;
  scopes: Scope[];
  userId: string | null;
  expiresAt: number | null;
  revoked: boolean;
}

const UNKNOWN: Entry = { id: null, name: "", scopes: [], userId: null, expiresAt: null, revoked: false };

export interface ManagementKeyAuthSettings {
  /** How long a record is trusted without a change notice: bounds a lost invalidation. */
  ttlMs: number;
  /** How long "no such key" is remembered, so a flood of wrong keys does not reach Postgres each time. */
  negativeTtlMs: number;
}

/**
 * Finds the management key behind a presented secret, by hash, through a small cache. A revocation
 * anywhere evicts the key on every replica (see invalidation.ts), so a revoked key stops working
 * within the pub/sub delay; the TTL only bounds a missed notice.
 */
export class ManagementKeyAuth {
  private readonly cache: LRUCache<string, Entry>;
  /** Keys evicted while loads were reading Postgres: what such a load read is not cached. */
  private readonly raced = new RacedReads();

  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: ManagementKeyAuthSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.cache = new LRUCache<string, Entry>({ max: 10_000, ttl: settings.ttlMs, ttlAutopurge: false });
  }

  async check(secret: string): Promise<ManagementKeyCheck> {
    const hash = hashKey(secret);
    let entry = this.cache.get(hash);
    if (!entry) {
      const read = this.raced.begin();
      try {
        entry = await this.load(hash);
        const raced =
          entry.id === null ? this.raced.changedSince(read) : this.raced.changedSince(read, entry.id);
        if (!raced) {
          this.cache.set(hash, entry, entry.id === null ? { ttl: this.settings.negativeTtlMs } : {});
        }
      } finally {
        this.raced.end();
      }
    }
    if (entry.id === null) return { kind: "unknown" };
    if (entry.revoked) return { kind: "revoked" };
    if (entry.expiresAt !== null && entry.expiresAt <= this.now()) return { kind: "expired" };
    return {
      kind: "valid",
      principal: {
        actor: { type: "management_key", id: entry.id, name: entry.name },
        scopes: new Set(entry.scopes),
        userId: entry.userId,
      },
    };
  }

  /** Forgets a key, whichever secret hash it is cached under. */
  evict(id: string): void {
    this.raced.evicted(id);
    for (const [hash, entry] of this.cache.entries()) {
      if (entry.id === id) this.cache.delete(hash);
    }
  }

  clear(): void {
    this.raced.cleared();
    this.cache.clear();
  }

  private async load(hash: string): Promise<Entry> {
    const row = await findManagementKeyByHash(this.db, hash);
    if (!row) return UNKNOWN;
    return {
      id: row.id,
      name: row.name,
      scopes: row.scopes as Scope[],
      userId: row.user_id,
      expiresAt: row.expires_at?.getTime() ?? null,
      revoked: row.revoked_at !== null,
    };
  }
}
