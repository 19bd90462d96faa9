import { performance } from "node:perf_hooks";
import { type Reply, type ReplyCallback, ScriptConnection } from "./script-connection.js";
import { DAY, type LimitResult, type Limits, MINUTE } from "./sliding-window.js";

/**
 * Checks and counts both windows in one atomic script, one round trip. Each window is a hash of
 * bucket -> count plus `t` (the window's total) and `o` (the oldest bucket holding a count, kept
 * exact whenever `t` > 0). Expired buckets are subtracted from `t` as `o` moves forward, so a call
 * touches O(1) fields on average: an admitted request in steady state costs HMGET and two HINCRBYs
 * per window. The hash expires a full window after its newest bucket was created, the last moment
 * any of its counts matters, and is deleted once no count is left. A refused request changes no
 * count, and neither does a read (ARGV[5] = "0"): it decides as a request of that cost would, and
 * reports the counts as they stand.
 */
const SCRIPT = `
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[4])
local consume = ARGV[5] == '1'

local function load(key, bucket_ms, nbuckets, limit)
  local current = math.floor(now / bucket_ms)
  local first = current - nbuckets + 1
  local meta = redis.call('HMGET', key, 't', 'o')
  local total = tonumber(meta[1]) or 0
  local stored = tonumber(meta[2])
  local oldest = stored or current
  local existed = meta[1] ~= false
  if total <= 0 then
    total = 0
    oldest = current
  elseif oldest < first then
    if first - oldest >= nbuckets then
      redis.call('DEL', key)
      total = 0
      stored = nil
      existed = false
    else
      for b = oldest, first - 1 do
        local c = redis.call('HGET', key, b)
        if c then
          total = total - tonumber(c)
          redis.call('HDEL', key, b)
        end
      end
    end
    if total <= 0 then
      total = 0
      oldest = current
    else
      oldest = first
      while oldest < current and redis.call('HEXISTS', key, oldest) == 0 do
        oldest = oldest + 1
      end
    end
  end
  local dirty = total ~= (tonumber(meta[1]) or 0) or oldest ~= stored
  return { key = key, bucket_ms = bucket_ms, nbuckets = nbuckets, limit = limit, current = current,
           total = total, oldest = oldest, existed = existed, dirty = dirty }
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
    if redis.call('HINCRBY', w.key, w.current, add) == add then
      redis.call('PEXPIRE', w.key, w.nbuckets * w.bucket_ms)
    end
    w.total = w.total + add
    if w.dirty then
      redis.call('HSET', w.key, 't', w.total, 'o', w.oldest)
    else
      redis.call('HINCRBY', w.key, 't', add)
    end
  elseif w.dirty then
    if w.total > 0 then
      redis.call('HSET', w.key, 't', w.total, 'o', w.oldest)
    elseif w.existed then
      redis.call('DEL', w.key)
    end
  end
end

local m = load(KEYS[1], ${MINUTE.bucketMs}, ${MINUTE.buckets}, tonumber(ARGV[2]))
local d = load(KEYS[2], ${DAY.bucketMs}, ${DAY.buckets}, tonumber(ARGV[3]))
local allowed = m.total + cost <= m.limit and d.total + cost <= d.limit
local retry = 0
if allowed then
  local add = consume and cost or 0
  save(m, add)
  save(d, add)
else
  retry = math.max(retry_ms(m), retry_ms(d))
  save(m, 0)
  save(d, 0)
end
return { allowed and 1 or 0, m.total, reset_ms(m), d.total, reset_ms(d), retry }
`;

type ScriptReply = [number, number, number, number, number, number];

export interface LimitOptions {
  /** Units the request counts for: a positive integer, default 1. */
  cost?: number;
  /** false: decide without counting anything (default true). */
  consume?: boolean;
}

// "1" and "0" as RESP bulk strings: the usual cost and both consume flags cost the hot path no string.
const ARG_ONE = "$1\r\n1\r\n";
const ARG_ZERO = "$1\r\n0\r\n";

export interface RedisLimiterOptions {
  url: string;
  /** Prepended to the limiter's Redis keys (REDIS_KEY_PREFIX). */
  keyPrefix: string;
  /** A check Redis has not answered within this long fails with RedisTimeout. */
  timeoutMs: number;
  onError: (err: Error) => void;
}

interface Pending {
  limits: Limits;
  resolve: (result: LimitResult) => void;
  reject: (err: unknown) => void;
}

interface Batch {
  sentAt: number;
  /** Replies still owed; the batch leaves the watch list when it reaches 0. */
  left: number;
  settled: boolean;
  pending: Pending[];
}

export class RedisTimeout extends Error {}

/** A connection owing replies this long is taken to be dead and is reconnected. */
const STALE_MS = 2_000;

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
 * delivered any reply that arrived in time. Late replies are still read, and dropped.
 */
export class RedisRateLimiter {
  readonly connection: ScriptConnection;
  private queue: Pending[] = [];
  private queueResp = "";
  /** Sent batches awaiting replies, oldest first. */
  private readonly inFlight = new Set<Batch>();
  private watchdog: NodeJS.Timeout | undefined;
  private readonly keyPrefix: string;
  private readonly timeoutMs: number;

  constructor(options: RedisLimiterOptions) {
    this.connection = new ScriptConnection({
      url: options.url,
      script: SCRIPT,
      connectTimeoutMs: 2_000,
      onError: options.onError,
    });
    this.keyPrefix = `${options.keyPrefix}rl:{`;
    this.timeoutMs = options.timeoutMs;
  }

  /** Connects; resolves once the script is loaded, or after `waitMs` if Redis is not there yet. */
  start(waitMs: number): Promise<void> {
    this.connection.connect();
    if (this.connection.isReady) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, waitMs);
      this.connection.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  stop(): void {
    this.connection.close();
    clearInterval(this.watchdog);
    this.watchdog = undefined;
  }

  /**
   * Counts a request of `cost` units against both windows, or refuses it without counting. With
   * `consume: false` only decides: nothing is counted and the usage reported is the current one.
   * Rejects if Redis fails.
   */
  check(keyId: string, limits: Limits, nowMs: number, options?: LimitOptions): Promise<LimitResult> {
    return new Promise((resolve, reject) => {
      if (this.queue.length === 0) setImmediate(() => this.send());
      this.queue.push({ limits, resolve, reject });
      // The {…} hash tag puts both windows of a key in one Redis Cluster slot, as the script needs.
      const minuteKey = `${this.keyPrefix}${keyId}}:m`;
      const dayKey = `${this.keyPrefix}${keyId}}:d`;
      const now = String(nowMs);
      const perMinute = String(limits.perMinute);
      const perDay = String(limits.perDay);
      let cost = ARG_ONE;
      if (options?.cost !== undefined && options.cost !== 1) {
        const text = String(options.cost);
        cost = `$${text.length}\r\n${text}\r\n`;
      }
      this.queueResp +=
        `*10\r\n$7\r\nEVALSHA\r\n$40\r\n${this.connection.sha}\r\n$1\r\n2\r\n` +
        `$${Buffer.byteLength(minuteKey)}\r\n${minuteKey}\r\n$${Buffer.byteLength(dayKey)}\r\n${dayKey}\r\n` +
        `$${now.length}\r\n${now}\r\n$${perMinute.length}\r\n${perMinute}\r\n$${perDay.length}\r\n${perDay}\r\n` +
        cost +
        (options?.consume === false ? ARG_ZERO : ARG_ONE);
    });
  }

  private send(): void {
    const pending = this.queue;
    const resp = this.queueResp;
    this.queue = [];
    this.queueResp = "";
    const batch: Batch = { sentAt: performance.now(), left: pending.length, settled: false, pending };
    const callbacks = pending.map(
      (one): ReplyCallback =>
        (err, reply) => {
          batch.left -= 1;
          if (batch.left === 0) this.inFlight.delete(batch);
          if (err?.message.startsWith("NOSCRIPT")) this.connection.reset("Redis lost the rate-limit script");
          if (batch.settled) return;
          if (err) one.reject(err);
          else if (isScriptReply(reply)) one.resolve(toResult(reply, one.limits));
          else one.reject(new Error("Redis answered the rate-limit script with an unexpected reply"));
        },
    );
    // Not connected: send() fails every callback at once, so there is nothing to watch.
    if (this.connection.isReady) {
      this.inFlight.add(batch);
      this.watch();
    }
    this.connection.send(resp, callbacks);
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
      if (!batch.settled) {
        batch.settled = true;
        const err = new RedisTimeout(`Redis did not answer within ${this.timeoutMs} ms`);
        for (const one of batch.pending) one.reject(err);
      }
      if (now - batch.sentAt >= Math.max(STALE_MS, 10 * this.timeoutMs)) {
        this.connection.reset(`Redis owed replies for over ${Math.round(now - batch.sentAt)} ms`);
        break;
      }
    }
    if (this.inFlight.size === 0 && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }
}

function isScriptReply(reply: Reply): reply is ScriptReply {
  return Array.isArray(reply) && reply.length === 6 && reply.every((n) => typeof n === "number");
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
