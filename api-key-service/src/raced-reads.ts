/**
 * For a cache filled from Postgres and emptied by change notices: which reads raced an eviction. A
 * read that began before a change committed can return the row from before it, and the change's
 * eviction can land while that read is still under way; what it read then answers the requests that
 * waited for it but must not be cached, or the old row would stay until the cache's TTL.
 *
 * Evictions are named by tags (a key id, a user id, a plan id, each with its own prefix), remembered
 * only while some read is under way, by the count of evictions at the time.
 */
export class RacedReads {
  private readonly evictedDuringReads = new Map<string, number>();
  private evictions = 0;
  private clearedAt = -1;
  private reads = 0;

  /** A read starts; pass what this returns to changedSince(), and call end() when it is over. */
  begin(): number {
    this.reads += 1;
    return this.evictions;
  }

  end(): void {
    this.reads -= 1;
    if (this.reads === 0) this.evictedDuringReads.clear();
  }

  evicted(tag: string): void {
    if (this.reads > 0) this.evictedDuringReads.set(tag, this.evictions);
    this.evictions += 1;
  }

  /** The whole cache was emptied: every read under way raced it. */
  cleared(): void {
    this.clearedAt = this.evictions++;
  }

  /** Whether any of `tags` was evicted, or the cache cleared, since `read` began. */
  changedSince(read: number, ...tags: string[]): boolean {
    if (this.clearedAt >= read) return true;
    return tags.some((tag) => (this.evictedDuringReads.get(tag) ?? -1) >= read);
  }
}
