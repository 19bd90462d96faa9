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
  /** key id -> hashes cached for it (current and rotated-out secret). */
  private readonly hashesById = new Map<string, Set<string>>();

  constructor(max: number) {
    this.entries = new LRUCache<string, Entry>({
      max,
      dispose: (entry, hash) => {
        if (entry.key) this.unindex(entry.key.id, hash);
      },
    });
  }

  get(hash: string): Entry | undefined {
    return this.entries.get(hash);
  }

  set(hash: string, key: AuthKey | null, fetchedAt: number): void {
    this.entries.set(hash, { key, fetchedAt });
    if (key) {
      const hashes = this.hashesById.get(key.id) ?? new Set<string>();
      hashes.add(hash);
      this.hashesById.set(key.id, hashes);
    }
  }

  /** Forgets every cached secret of a key. */
  evictKey(keyId: string): void {
    for (const hash of [...(this.hashesById.get(keyId) ?? [])]) this.entries.delete(hash);
    this.hashesById.delete(keyId);
  }

  /** Forgets every key of a user (their billing customer changed). */
  evictUser(userId: string): void {
    for (const [hash, entry] of this.entries.entries()) {
      if (entry.key?.userId === userId) this.entries.delete(hash);
    }
  }

  /** Forgets every key whose user is on this plan (the plan's limits or quota changed). */
  evictPlan(planId: string): void {
    for (const [hash, entry] of this.entries.entries()) {
      if (entry.key?.plan?.id === planId) this.entries.delete(hash);
    }
  }

  clear(): void {
    this.entries.clear();
    this.hashesById.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private unindex(keyId: string, hash: string): void {
    const hashes = this.hashesById.get(keyId);
    hashes?.delete(hash);
    if (hashes?.size === 0) this.hashesById.delete(keyId);
  }
}
