import { LRUCache } from "lru-cache";
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

  fits(nowMs: number, limit: number): boolean {
    this.prune(nowMs);
    return this.total + 1 <= limit;
  }

  add(nowMs: number): void {
    const current = this.prune(nowMs);
    this.counts.set(current, (this.counts.get(current) ?? 0) + 1);
    this.total += 1;
  }

  state(nowMs: number, limit: number): WindowState {
    const oldest = Math.min(...this.counts.keys());
    const resetMs = this.total > 0 ? (oldest + this.spec.buckets) * this.spec.bucketMs - nowMs : 0;
    return { limit, used: this.total, resetMs };
  }

  retryAfterMs(nowMs: number, limit: number): number {
    const need = this.total + 1 - limit;
    if (need <= 0) return 0;
    let freed = 0;
    for (const bucket of [...this.counts.keys()].sort((a, b) => a - b)) {
      freed += this.counts.get(bucket) ?? 0;
      if (freed >= need) return (bucket + this.spec.buckets) * this.spec.bucketMs - nowMs;
    }
    return this.spec.spanSeconds * 1000;
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

  check(keyId: string, limits: Limits, nowMs: number): LimitResult {
    let windows = this.keys.get(keyId);
    if (!windows) {
      windows = { minute: new Window(MINUTE), day: new Window(DAY) };
      this.keys.set(keyId, windows);
    }
    const { minute, day } = windows;
    const allowed = minute.fits(nowMs, limits.perMinute) && day.fits(nowMs, limits.perDay);
    if (allowed) {
      minute.add(nowMs);
      day.add(nowMs);
    }
    return {
      allowed,
      minute: minute.state(nowMs, limits.perMinute),
      day: day.state(nowMs, limits.perDay),
      retryAfterMs: allowed
        ? 0
        : Math.max(minute.retryAfterMs(nowMs, limits.perMinute), day.retryAfterMs(nowMs, limits.perDay)),
      source: "local",
    };
  }
}
