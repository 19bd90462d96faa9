import { LRUCache } from "lru-cache";
import type { LimitOptions } from "./redis-limiter.js";
import {
  DAY,
  type LimitResult,
  type Limits,
  MINUTE,
  type WindowSpec,
  type WindowState,
} from "./sliding-window.js";

class Window {
  private readonly counts = new Map<number, number>();
  private total = 0;

  constructor(private readonly spec: WindowSpec) {}

  /** Drops buckets that left the window; returns the current bucket. */
  private prune(nowMs: number): number {
    const current = Math.floor(nowMs / this.spec.bucketMs);
    const first = current - this.spec.buckets + 1;
    for (const [bucket, count] of this.counts) {
      if (bucket < first) {
        this.counts.delete(bucket);
        this.total -= count;
      }
    }
    return current;
  }

  /** Prunes, so that state() and retryAfterMs() see only the buckets inside the window. */
  fits(nowMs: number, limit: number, cost: number): boolean {
    this.prune(nowMs);
    return this.total + cost <= limit;
  }

  add(nowMs: number, cost: number): void {
    const current = this.prune(nowMs);
    this.counts.set(current, (this.counts.get(current) ?? 0) + cost);
    this.total += cost;
  }

  state(nowMs: number, limit: number): WindowState {
    const oldest = Math.min(...this.counts.keys());
    const resetMs = this.total > 0 ? (oldest + this.spec.buckets) * this.spec.bucketMs - nowMs : 0;
    return { limit, used: this.total, resetMs };
  }

  retryAfterMs(nowMs: number, limit: number, cost: number): number {
    const need = this.total + cost - limit;
    if (need <= 0) return 0;
    let freed = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      freed += this.counts.get(bucket) ?? 0;
      if (freed >= need) return (bucket + this.spec.buckets) * this.spec.bucketMs - nowMs;
    }
    // A cost above the limit never fits: the answer is the script's, until the current bucket leaves.
    return (Math.floor(nowMs / this.spec.bucketMs) + this.spec.buckets) * this.spec.bucketMs - nowMs;
  }
}

/**
 * This replica's own limiter, used while Redis cannot be reached and the failure mode is "open". Same
 * windows as the Redis script, but each replica counts alone: with N replicas a key may get up to N
 * times its limit during an outage. Bounded to the most recently used keys.
 */
export class LocalRateLimiter {
  private readonly keys: LRUCache<string, { minute: Window; day: Window }>;

  constructor(maxKeys = 100_000) {
    this.keys = new LRUCache({ max: maxKeys });
  }

  /** The Redis limiter's check, for this replica alone; see RedisRateLimiter.check for the options. */
  check(keyId: string, limits: Limits, nowMs: number, options?: LimitOptions): LimitResult {
    const cost = options?.cost ?? 1;
    const consume = options?.consume !== false;
    let windows = this.keys.get(keyId);
    if (!windows) {
      windows = { minute: new Window(MINUTE), day: new Window(DAY) };
      // A read of a key with nothing counted has nothing to keep, as in Redis.
      if (consume) this.keys.set(keyId, windows);
    }
    const { minute, day } = windows;
    // Both windows are pruned before either answer is used, as the script loads both.
    const minuteFits = minute.fits(nowMs, limits.perMinute, cost);
    const allowed = day.fits(nowMs, limits.perDay, cost) && minuteFits;
    if (allowed && consume) {
      minute.add(nowMs, cost);
      day.add(nowMs, cost);
    }
    return {
      allowed,
      minute: minute.state(nowMs, limits.perMinute),
      day: day.state(nowMs, limits.perDay),
      retryAfterMs: allowed
        ? 0
        : Math.max(
            minute.retryAfterMs(nowMs, limits.perMinute, cost),
            day.retryAfterMs(nowMs, limits.perDay, cost),
          ),
      source: "local",
    };
  }
}
