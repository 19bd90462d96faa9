import { LRUCache } from "lru-cache";
import { RacedReads } from "../raced-reads.js";
import type { AuthKey } from "./decision.js";

interface Entry {
  /** null: Postgres said no key has this hash. */
  key: AuthKey | null;
  fetchedAt: number;
}

/**
 * Keys by secret hash, bounded, in this process. Changes made anywhere evict entries by key id (see
 * invalidation.ts), so entries do not need a short life; the TTL only bounds how long a lost
 * invalidation could go unnoticed.
 */
export class KeyCache {
  private readonly entries: LRUCache<string, Entry>;
  /**
   * key id -> the hash cached for it, or its hashes while a rotated-out secret is cached too: a Set per
   * key for what is nearly always one hash was a tenth of a cached key's memory.
   */
  private readonly hashesById = new Map<string, string | string[]>();
  /** Keys ("k:"), users ("u:") and plans ("p:") evicted while lookups were reading Postgres. */
  private readonly raced = new RacedReads();

  constructor(max: number) {
    this.entries = new LRUCache<string, Entry>({
      max,
      dispose: (entry, hash) => {
        if (entry.key) this.unindex(entry.key.id, hash);
      },
    });
  }

  /** A lookup starts reading Postgres; pass what this returns to changedSince() and endRead(). */
  beginRead(): number {
    return this.raced.begin();
  }

  endRead(): void {
    this.raced.end();
  }

  /** Whether the key, its user or its plan was evicted, or the cache cleared, since `read` began. */
  changedSince(read: number, key: AuthKey): boolean {
    return key.plan === null
      ? this.raced.changedSince(read, `k:${key.id}`, `u:${key.userId}`)
      : this.raced.changedSince(read, `k:${key.id}`, `u:${key.userId}`, `p:${key.plan.id}`);
  }

  get(hash: string): Entry | undefined {
    return this.entries.get(hash);
  }

  set(hash: string, key: AuthKey | null, fetchedAt: number): void {
    this.entries.set(hash, { key, fetchedAt });
    if (key) {
      const hashes = this.hashesById.get(key.id);
      if (hashes === undefined || hashes === hash) this.hashesById.set(key.id, hash);
      else if (typeof hashes === "string") this.hashesById.set(key.id, [hashes, hash]);
      else if (!hashes.includes(hash)) hashes.push(hash);
    }
  }

  /** Forgets every cached secret of a key. */
  evictKey(keyId: string): void {
    this.raced.evicted(`k:${keyId}`);
    const hashes = this.hashesById.get(keyId);
    this.hashesById.delete(keyId);
    for (const hash of typeof hashes === "string" ? [hashes] : (hashes ?? [])) this.entries.delete(hash);
  }

  /** Forgets every key of a user (their billing customer changed). */
  evictUser(userId: string): void {
    this.raced.evicted(`u:${userId}`);
    for (const [hash, entry] of this.entries.entries()) {
      if (entry.key?.userId === userId) this.entries.delete(hash);
    }
  }

  /** Forgets every key whose user is on this plan (the plan's limits or quota changed). */
  evictPlan(planId: string): void {
    this.raced.evicted(`p:${planId}`);
    for (const [hash, entry] of this.entries.entries()) {
      if (entry.key?.plan?.id === planId) this.entries.delete(hash);
    }
  }

  clear(): void {
    this.raced.cleared();
    this.entries.clear();
    this.hashesById.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private unindex(keyId: string, hash: string): void {
    const hashes = this.hashesById.get(keyId);
    if (hashes === hash) this.hashesById.delete(keyId);
    else if (Array.isArray(hashes)) {
      const rest = hashes.filter((h) => h !== hash);
      if (rest.length === 0) this.hashesById.delete(keyId);
      else this.hashesById.set(keyId, rest.length === 1 ? (rest[0] as string) : rest);
    }
  }
}
