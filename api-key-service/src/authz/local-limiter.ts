import { LRUCache } from "lru-cache";
import type { QuotaBaseline } from "./redis-limiter.js";
import {
  DAY,
  type LimitKey,
  type LimitOptions,
  type LimitResult,
  type Limits,
  MINUTE,
  type RateLimiter,
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
 * times its limit during an outage. A quota is not started afresh: the first check of a user and
 * period here reads what Postgres holds (as Redis rebuilds a lost counter) and counts on from there,
 * so an outage can over-admit what the other replicas admit meanwhile, not a whole new period.
 * Bounded to the most recently used keys and users.
 */
export class LocalRateLimiter implements RateLimiter {
  private readonly keys: LRUCache<string, { minute: Window; day: Window }>;
  /** Units used per user and period start. */
  private readonly quotas: LRUCache<string, { used: number }>;

  constructor(
    private readonly quotaBaseline: QuotaBaseline,
    maxKeys = 100_000,
  ) {
    this.keys = new LRUCache({ max: maxKeys });
    this.quotas = new LRUCache({ max: maxKeys });
  }

  /** The Redis limiter's check, for this replica alone; see RedisRateLimiter.check for the options. */
  async check(key: LimitKey, limits: Limits, nowMs: number, options?: LimitOptions): Promise<LimitResult> {
    const quota = options?.quota;
    let counter: { used: number } | undefined;
    if (quota) {
      const id = `${key.userId}\n${quota.periodStart}`;
      counter = this.quotas.get(id);
      if (!counter) {
        const used = await this.quotaBaseline(key.userId, quota.periodStart, quota.periodEnd);
        // Another check may have read it meanwhile: the first one read is kept.
        counter = this.quotas.get(id) ?? { used };
        this.quotas.set(id, counter);
      }
    }
    const cost = options?.cost ?? 1;
    const consume = options?.consume !== false;
    let windows = this.keys.get(key.id);
    if (!windows) {
      windows = { minute: new Window(MINUTE), day: new Window(DAY) };
      // A read of a key with nothing counted has nothing to keep, as in Redis.
      if (consume) this.keys.set(key.id, windows);
    }
    const { minute, day } = windows;
    // Both windows are pruned before either answer is used, as the script loads both.
    const minuteFits = minute.fits(nowMs, limits.perMinute, cost);
    const windowsAllow = day.fits(nowMs, limits.perDay, cost) && minuteFits;
    const quotaRefused =
      quota !== undefined && counter !== undefined && quota.block && counter.used + cost > quota.limit;
    const allowed = windowsAllow && !quotaRefused;
    if (allowed && consume) {
      minute.add(nowMs, cost);
      day.add(nowMs, cost);
      if (counter) counter.used += cost;
    }
    const result: LimitResult = {
      allowed,
      minute: minute.state(nowMs, limits.perMinute),
      day: day.state(nowMs, limits.perDay),
      retryAfterMs: windowsAllow
        ? 0
        : Math.max(
            minute.retryAfterMs(nowMs, limits.perMinute, cost),
            day.retryAfterMs(nowMs, limits.perDay, cost),
          ),
      source: "local",
    };
    if (quota && counter) {
      result.quota = {
        limit: quota.limit,
        used: counter.used,
        periodStart: quota.periodStart,
        periodEnd: quota.periodEnd,
        resetMs: quota.periodEnd - nowMs,
        exceeded: quotaRefused,
      };
    }
    return result;
  }
}
