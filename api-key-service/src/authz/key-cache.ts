import { LRUCache } from "lru-cache";
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
  /**
   * What was evicted while lookups were reading Postgres ("k:", "u:", "p:" and the id), by the count
   * of evictions at the time; forgotten when no read is under way. A read that began before such an
   * eviction may hold the row from before the change (see KeyLookup).
   */
  private readonly evictedDuringReads = new Map<string, number>();
  private evictions = 0;
  private clearedAt = -1;
  private reads = 0;

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
    this.reads += 1;
    return this.evictions;
  }

  endRead(): void {
    this.reads -= 1;
    if (this.reads === 0) this.evictedDuringReads.clear();
  }

  /** Whether the key, its user or its plan was evicted, or the cache cleared, since `read` began. */
  changedSince(read: number, key: AuthKey): boolean {
    const since = (tag: string) => (this.evictedDuringReads.get(tag) ?? -1) >= read;
    return (
      this.clearedAt >= read ||
      since(`k:${key.id}`) ||
      since(`u:${key.userId}`) ||
      (key.plan !== null && since(`p:${key.plan.id}`))
    );
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
    this.evicted(`k:${keyId}`);
    const hashes = this.hashesById.get(keyId);
    this.hashesById.delete(keyId);
    for (const hash of typeof hashes === "string" ? [hashes] : (hashes ?? [])) this.entries.delete(hash);
  }

  /** Forgets every key of a user (their billing customer changed). */
  evictUser(userId: string): void {
    this.evicted(`u:${userId}`);
    for (const [hash, entry] of this.entries.entries()) {
      if (entry.key?.userId === userId) this.entries.delete(hash);
    }
  }

  /** Forgets every key whose user is on this plan (the plan's limits or quota changed). */
  evictPlan(planId: string): void {
    this.evicted(`p:${planId}`);
    for (const [hash, entry] of this.entries.entries()) {
      if (entry.key?.plan?.id === planId) this.entries.delete(hash);
    }
  }

  clear(): void {
    this.clearedAt = this.evictions++;
    this.entries.clear();
    this.hashesById.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private evicted(tag: string): void {
    if (this.reads > 0) this.evictedDuringReads.set(tag, this.evictions);
    this.evictions += 1;
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
