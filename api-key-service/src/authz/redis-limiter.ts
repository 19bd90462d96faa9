import { performance } from "node:perf_hooks";
import type { Redis } from "@gateway/common";
import type { Result } from "ioredis";
import { DAY, type LimitResult, type Limits, MINUTE } from "./sliding-window.js";

/**
 * Checks and counts both windows in one atomic script, one round trip. Each window is a hash of
 * bucket -> count plus `t` (the window's total) and `o` (the oldest bucket that may hold a count).
 * Expired buckets are subtracted from `t` as `o` moves forward, so a call touches O(1) fields on
 * average. A refused request changes no count.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[4])

local function load(key, bucket_ms, nbuckets, limit)
  local current = math.floor(now / bucket_ms)
  local first = current - nbuckets + 1
  local meta = redis.call('HMGET', key, 't', 'o')
  local total = tonumber(meta[1]) or 0
  local oldest = tonumber(meta[2]) or current
  if oldest < first then
    if first - oldest >= nbuckets then
      redis.call('DEL', key)
      total = 0
      oldest = current
    else
      for b = oldest, first - 1 do
        local c = redis.call('HGET', key, b)
        if c then
          total = total - tonumber(c)
          redis.call('HDEL', key, b)
        end
      end
      oldest = first
    end
  end
  while oldest < current and redis.call('HEXISTS', key, oldest) == 0 do
    oldest = oldest + 1
  end
  return { key = key, bucket_ms = bucket_ms, nbuckets = nbuckets, limit = limit,
           current = current, total = total, oldest = oldest }
end

local function reset_ms(w)
  if w.total <= 0 then return 0 end
  return (w.oldest + w.nbuckets) * w.bucket_ms - now
end

local function retry_ms(w)
  local need = w.total + cost - w.limit
  if need <= 0 then return 0 end
  local freed = 0
  for b = w.oldest, w.current do
    local c = redis.call('HGET', w.key, b)
    if c then
      freed = freed + tonumber(c)
      if freed >= need then return (b + w.nbuckets) * w.bucket_ms - now end
    end
  end
  return (w.current + w.nbuckets) * w.bucket_ms - now
end

local function save(w, add)
  if add > 0 then
    redis.call('HINCRBY', w.key, w.current, add)
    w.total = w.total + add
  end
  redis.call('HSET', w.key, 't', w.total, 'o', w.oldest)
  redis.call('PEXPIRE', w.key, w.nbuckets * w.bucket_ms)
end

local m = load(KEYS[1], ${MINUTE.bucketMs}, ${MINUTE.buckets}, tonumber(ARGV[2]))
local d = load(KEYS[2], ${DAY.bucketMs}, ${DAY.buckets}, tonumber(ARGV[3]))
local allowed = m.total + cost <= m.limit and d.total + cost <= d.limit
local retry = 0
if allowed then
  save(m, cost)
  save(d, cost)
else
  retry = math.max(retry_ms(m), retry_ms(d))
  save(m, 0)
  save(d, 0)
end
return { allowed and 1 or 0, m.total, reset_ms(m), d.total, reset_ms(d), retry }
`;

type ScriptReply = [number, number, number, number, number, number];

declare module "ioredis" {
  interface RedisCommander<Context> {
    gatewayRateLimit(
      minuteKey: string,
      dayKey: string,
      nowMs: number,
      perMinute: number,
      perDay: number,
      cost: number,
    ): Result<ScriptReply, Context>;
  }
}

interface Pending {
  keyId: string;
  limits: Limits;
  nowMs: number;
  resolve: (result: LimitResult) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  pending: Pending[];
  sentAt: number;
  settled: boolean;
}

export class RedisTimeout extends Error {}

/**
 * Checks go to Redis in batches: the calls made while the event loop handles one round of I/O are
 * written as one pipeline when that round ends (setImmediate), so under load a single write carries
 * many checks, and an idle service sends each check at once. Each check is still its own script call
 * with its own reply: one round trip per check, never one shared between keys.
 *
 * A batch that has no answer after `timeoutMs` fails (checked every `timeoutMs / 5`, so within
 * 1.2 × `timeoutMs`), but only once the event loop has read its sockets: timers run before I/O in
 * each turn, so after a stall (a long GC pause, a busy machine) a timer can fire while the reply
 * already waits unread. The check is made on the next turn's setImmediate, after the poll phase has
 * delivered any reply that arrived in time.
 */
export class RedisRateLimiter {
  private queue: Pending[] = [];
  /** Sent batches awaiting replies, oldest first. */
  private readonly inFlight = new Set<Batch>();
  private watchdog: NodeJS.Timeout | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly timeoutMs: number,
  ) {
    redis.defineCommand("gatewayRateLimit", { numberOfKeys: 2, lua: SCRIPT });
  }

  /** Loads the script into Redis's cache, so the first checks after a (re)connect need no second round trip. */
  async preload(): Promise<void> {
    await this.redis.script("LOAD", SCRIPT);
  }

  /** Counts one request against both windows, or refuses it without counting. Rejects if Redis fails. */
  check(keyId: string, limits: Limits, nowMs: number): Promise<LimitResult> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.send());
      this.queue.push({ keyId, limits, nowMs, resolve, reject });
    });
  }

  private send(): void {
    const pending = this.queue;
    this.queue = [];
    const pipeline = this.redis.pipeline();
    for (const { keyId, limits, nowMs } of pending) {
      // The {…} hash tag puts both windows of a key in one Redis Cluster slot, as the script needs.
      const tag = `{${keyId}}`;
      pipeline.gatewayRateLimit(`rl:${tag}:m`, `rl:${tag}:d`, nowMs, limits.perMinute, limits.perDay, 1);
    }
    const batch: Batch = { pending, sentAt: performance.now(), settled: false };
    this.inFlight.add(batch);
    this.watch();
    pipeline.exec().then(
      (replies) => {
        if (!this.settle(batch)) return;
        for (let i = 0; i < pending.length; i++) {
          const one = pending[i] as Pending;
          const [err, reply] = replies?.[i] ?? [new Error("Redis gave no reply"), null];
          if (err) one.reject(err);
          else one.resolve(toResult(reply as ScriptReply, one.limits));
        }
      },
      (err: unknown) => {
        if (!this.settle(batch)) return;
        for (const one of pending) one.reject(err);
      },
    );
  }

  /** True the first time: a batch is answered by Redis or by the timeout, never both. */
  private settle(batch: Batch): boolean {
    if (batch.settled) return false;
    batch.settled = true;
    this.inFlight.delete(batch);
    return true;
  }

  // One interval for all batches rather than a timer per batch: a timer per batch costs an
  // allocation and a timer-list insert on every round trip, and keeps its batch reachable.
  private watch(): void {
    if (this.watchdog) return;
    this.watchdog = setInterval(() => setImmediate(() => this.expire()), Math.max(1, this.timeoutMs / 5));
    this.watchdog.unref();
  }

  private expire(): void {
    const now = performance.now();
    // Batches are answered in the order they were sent, so the oldest come first.
    for (const batch of this.inFlight) {
      if (now - batch.sentAt < this.timeoutMs) break;
      this.settle(batch);
      const err = new RedisTimeout(`Redis did not answer within ${this.timeoutMs} ms`);
      for (const one of batch.pending) one.reject(err);
    }
    if (this.inFlight.size === 0 && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }
}

function toResult(reply: ScriptReply, limits: Limits): LimitResult {
  const [allowed, minuteUsed, minuteReset, dayUsed, dayReset, retry] = reply;
  return {
    allowed: allowed === 1,
    minute: { limit: limits.perMinute, used: minuteUsed, resetMs: minuteReset },
    day: { limit: limits.perDay, used: dayUsed, resetMs: dayReset },
    retryAfterMs: retry,
    source: "redis",
  };
}
