import { performance } from "node:perf_hooks";
import { parseRedisUrl } from "@gateway/common";
import { IoredisScriptNodes } from "./ioredis-script-nodes.js";
import { KeyLeases, LeaseKeeper } from "./lease-keeper.js";
import type { Lease } from "./limit-lease.js";
import {
  ARG_ONE,
  ARG_ZERO,
  BucketArg,
  COST_ARGS,
  flat,
  isScriptReply,
  QUOTA_MISSING,
  SCRIPT,
  type ScriptReply,
  toResult,
} from "./rate-limit-script.js";
import { ClusterNodes } from "./redis-cluster-nodes.js";
import {
  ASKING,
  noop,
  type Redirect,
  RedisTimeout,
  redirection,
  sendCommand,
  whenReady,
} from "./redis-cluster-redirects.js";
import { keySlot } from "./redis-cluster-slot.js";
import {
  bulk,
  encodeCommand,
  RedisUnavailable,
  type ReplyCallback,
  type ScriptChannel,
  ScriptConnection,
  type ScriptNodes,
  SingleNode,
} from "./script-connection.js";
import {
  DAY,
  type LimitKey,
  type LimitOptions,
  type LimitResult,
  type Limits,
  MINUTE,
  type QuotaRequest,
  type RateLimiter,
} from "./sliding-window.js";

/**
 * Units a user had admitted in a billing period, from what the service flushed to Postgres: what a
 * lost quota counter is rebuilt from.
 */
export type QuotaBaseline = (userId: string, periodStart: number, periodEnd: number) => Promise<number>;

/** A rebuilt counter outlives its period by a day, so a clock a little behind still finds it. */
const QUOTA_TTL_SLACK_MS = 86_400_000;

export interface RedisLimiterOptions {
  /** REDIS_URL: one Redis, or a Redis Cluster's seed nodes (redis+cluster://). */
  url: string;
  /**
   * REDIS_LIMITER_CLIENT: "own" (default), the hand-written connection (ScriptConnection, or one per
   * primary on a cluster); "ioredis", the library-backed fallback (IoredisScriptNodes).
   */
  client?: "own" | "ioredis";
  /** Prepended to the limiter's Redis keys (REDIS_KEY_PREFIX). */
  keyPrefix: string;
  /** A check Redis has not answered within this long fails with RedisTimeout. */
  timeoutMs: number;
  onError: (err: Error) => void;
  /** Where a missing quota counter is rebuilt from (Postgres). */
  quotaBaseline: QuotaBaseline;
  /** RATE_LIMIT_LEASES: hot keys' checks are admitted from units leased from Redis (limit-lease.ts). */
  leases?: boolean;
}

/** A check waiting for the answer of the script call it is part of. */
interface Waiter {
  nowMs: number;
  resolve: (result: LimitResult) => void;
  reject: (err: unknown) => void;
}

/** One script call: one check, or several of one key that arrived in the same turn (see below). */
interface Pending {
  key: LimitKey;
  limits: Limits;
  /** The first check's time: the script decides all of them at it (they share its buckets). */
  nowMs: number;
  options: LimitOptions | undefined;
  /** The quota counter was rebuilt for these checks already: a second "missing" is an error. */
  rebuilt: boolean;
  /** The script's arguments but the count, and the buckets they name (checks that join share them). */
  args: string;
  minuteBucket: string;
  dayBucket: string;
  /** Not yet written: a check of the same key and terms can still join. */
  open: boolean;
  /** The key's arguments, where an open call is found by the next check of the key. */
  windows: WindowArgs;
  /** The EVALSHA command, kept to send again after a cluster redirect, and its keys' hash slot. */
  resp: string;
  slot: number;
  /** Already sent again after a MOVED or ASK reply: a second redirect fails the checks. */
  redirected: boolean;
  waiters: Waiter[];
  /** Extra checks asked for after the waiters: what the script admits of them becomes a lease. */
  extra: number;
  /** Asked for at the end of a bucket for the next one (nowMs is the next bucket's start). */
  ahead?: boolean;
  /** A lease's unused units given back before the checks are decided (rate-limit.lua's return). */
  giveBack?: Lease;
}

interface Batch {
  connection: ScriptChannel;
  sentAt: number;
  /** Replies still owed; the batch leaves the watch list when it reaches 0. */
  left: number;
  settled: boolean;
  pending: Pending[];
}

export { RedisTimeout };

/** A key's window keys as RESP bulk strings and their hash slot, with the `id` and `userId` they were built from. */
interface WindowArgs {
  id: string;
  userId: string;
  resp: string;
  slot: number;
  /** The RESP arguments of the last quota request a check of this key carried. */
  quota?: QuotaArgs;
  /** The key's script call while it is open (not yet written): a check of the same terms joins it. */
  call?: Pending;
  /** The key's leases (lease-keeper.ts). */
  leases: KeyLeases;
}

/** A quota's counter key and its limit and overage arguments, as RESP bulk strings. */
interface QuotaArgs {
  request: QuotaRequest;
  key: string;
  tail: string;
}

/** A connection owing replies this long is taken to be dead and is reconnected. */
const STALE_MS = 2_000;

/**
 * Checks go to Redis in batches: the calls made while the event loop handles one I/O callback (one
 * read of a client's connection, often several requests) are written as one pipeline once that
 * callback's promise jobs have run (process.nextTick), so a single write carries that read's checks
 * and Redis works on them while the service decodes the next connection's read. Waiting for the end
 * of the whole round of I/O (setImmediate) kept Redis idle until every connection had been read and
 * the service idle while Redis worked: under a closed loop of 64 calls (h2load, one key) that cost
 * about an eighth of the throughput, 18,300 against 21,000 checks/s over alternated runs.
 *
 * Checks of one key on the same terms (counted, the same limits, cost and quota, the same buckets)
 * made before the batch is written share one script call: the script decides them as if they had
 * come one after another, in the order they were made, and each gets the answer it would have had
 * alone. A hot key's burst then costs Redis one call instead of one per check (at most one round trip
 * per check, never one shared between keys).
 *
 * A batch that has no answer after `timeoutMs` fails (checked every `timeoutMs / 5`, so within
 * 1.2 × `timeoutMs`), but only once the event loop has read its sockets: timers run before I/O in
 * each turn, so after a stall (a long GC pause, a busy machine) a timer can fire while the reply
 * already waits unread. The check is made on the next turn's setImmediate, after the poll phase has
 * delivered any reply that arrived in time. Late replies are still read, and dropped.
 *
 * On a Redis Cluster (redis+cluster://) each check goes to the primary serving its keys' hash slot
 * (the `{user}` tag puts a check's windows and its user's quota in one slot), still one EVALSHA per
 * check, batched per node. A MOVED reply updates the slot map and the check is sent once more to the
 * node named; an ASK reply (a slot being migrated) sends it once more to that node after ASKING.
 */
export class RedisRateLimiter implements RateLimiter {
  /** One Redis, or a cluster's primaries. */
  readonly connection: ScriptNodes;
  private readonly quotaBaseline: QuotaBaseline;
  private readonly windowResp = new WeakMap<LimitKey, WindowArgs>();
  /** Rebuilds under way, by user and period: concurrent checks wait for one. */
  private readonly rebuilding = new Map<string, Promise<void>>();
  /** Script calls waiting for the end of the event loop's turn, by node. */
  private queues = new Map<ScriptChannel, Pending[]>();
  private flushScheduled = false;
  /** Sent batches awaiting replies, oldest first. */
  private readonly inFlight = new Set<Batch>();
  private watchdog: NodeJS.Timeout | undefined;
  private readonly keyPrefix: string;
  private readonly timeoutMs: number;
  private readonly minuteBucket = new BucketArg(MINUTE.bucketMs);
  private readonly dayBucket = new BucketArg(DAY.bucketMs);
  /** Hot keys' leases, when leasing is on. */
  private readonly keeper: LeaseKeeper<WindowArgs> | undefined;

  constructor(options: RedisLimiterOptions) {
    const connection = {
      url: options.url,
      script: SCRIPT,
      connectTimeoutMs: 2_000,
      onError: options.onError,
    };
    if (options.client === "ioredis") this.connection = new IoredisScriptNodes(connection);
    else if (parseRedisUrl(options.url).cluster) this.connection = new ClusterNodes(connection);
    else this.connection = new SingleNode(new ScriptConnection(connection));
    this.keyPrefix = `${options.keyPrefix}rl:{`;
    this.timeoutMs = options.timeoutMs;
    this.quotaBaseline = options.quotaBaseline;
    this.keeper = options.leases
      ? new LeaseKeeper<WindowArgs>({
          askAhead: (windows, limits, nowMs, options, extra) => {
            const call = this.leaseCall(windows, limits, nowMs, options);
            call.extra = extra;
            call.ahead = true;
            this.enqueue(call, windows);
          },
          giveBack: (windows, lease, nowMs) => {
            const call = this.leaseCall(windows, lease.limits, nowMs, {
              cost: lease.cost,
              quota: lease.quota,
            });
            call.giveBack = lease;
            this.enqueue(call, windows);
          },
        })
      : undefined;
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
    this.keeper?.stop();
  }

  /**
   * Counts a request of `cost` units against both windows and the user's quota, or refuses it without
   * counting. With `consume: false` only decides: nothing is counted and the usage reported is the
   * current one. A missing quota counter is rebuilt from Postgres first (once per user and period,
   * however many checks wait). Rejects if Redis fails. A unit from the key's lease is answered at once,
   * not through a promise.
   */
  check(
    key: LimitKey,
    limits: Limits,
    nowMs: number,
    options?: LimitOptions,
  ): LimitResult | Promise<LimitResult> {
    const windows = this.windowArgs(key);
    if (this.keeper && options?.consume !== false) {
      const leased = this.keeper.take(windows, limits, nowMs, options);
      // A check from the lease costs no promise, no executor, no resolving functions and no waiter.
      if (leased) return leased;
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { nowMs, resolve, reject };
      const open = windows.call;
      if (open?.open && this.joins(open, limits, nowMs, options)) {
        open.waiters.push(waiter);
        return;
      }
      const call = scriptCall(key, windows, limits, nowMs, options, [waiter]);
      windows.call = call;
      this.enqueue(call, windows);
    });
  }

  /**
   * A check can join a key's open call when the script would decide it on the same terms: counted
   * (a read is decided alone), the same limits, cost and quota, in the same minute and day buckets.
   */
  private joins(call: Pending, limits: Limits, nowMs: number, options: LimitOptions | undefined): boolean {
    return (
      !call.rebuilt &&
      options?.consume !== false &&
      call.options?.consume !== false &&
      call.limits.perMinute === limits.perMinute &&
      call.limits.perDay === limits.perDay &&
      (call.options?.cost ?? 1) === (options?.cost ?? 1) &&
      call.options?.quota === options?.quota &&
      this.minuteBucket.at(nowMs) === call.minuteBucket &&
      this.dayBucket.at(nowMs) === call.dayBucket
    );
  }

  /**
   * A quota's RESP arguments, kept beside the key's window arguments and built again only for another
   * quota request: the checker keeps one request per key record and period, so a check of a user on
   * a plan builds no quota strings.
   */
  private quotaArgs(windows: WindowArgs, quota: QuotaRequest): QuotaArgs {
    let args = windows.quota;
    if (args?.request !== quota) {
      args = {
        request: quota,
        key: bulk(this.quotaKey(windows.userId, quota.periodStart)),
        tail: bulk(String(quota.limit)) + (quota.block ? ARG_ONE : ARG_ZERO),
      };
      windows.quota = args;
    }
    return args;
  }

  /**
   * A key's two window keys as RESP arguments, and their hash slot, built once per key record (the
   * checker passes the same record for every check of a key until it changes).
   */
  private windowArgs(key: LimitKey): WindowArgs {
    const kept = this.windowResp.get(key);
    if (kept && kept.id === key.id && kept.userId === key.userId) return kept;
    // The {user} hash tag puts a key's windows and its user's quota in one Redis Cluster slot, as an
    // atomic script needs.
    const tagged = `${this.keyPrefix}${key.userId}}:${key.id}`;
    const minuteKey = `${tagged}:m`;
    const args: WindowArgs = {
      id: key.id,
      userId: key.userId,
      resp: flat(bulk(minuteKey) + bulk(`${tagged}:d`)),
      slot: this.connection.cluster ? keySlot(minuteKey) : 0,
      leases: new KeyLeases(),
    };
    this.windowResp.set(key, args);
    return args;
  }

  /** The Redis key of a user's quota counter for the period starting at `periodStart`. */
  quotaKey(userId: string, periodStart: number): string {
    return `${this.keyPrefix}${userId}}:q:${periodStart}`;
  }

  private enqueue(one: Pending, windows = this.windowArgs(one.key)): void {
    const { limits, options } = one;
    const now = String(one.nowMs);
    const perMinute = String(limits.perMinute);
    const perDay = String(limits.perDay);
    const cost =
      options?.cost === undefined ? ARG_ONE : (COST_ARGS[options.cost] ?? bulk(String(options.cost)));
    const consume = options?.consume === false ? ARG_ZERO : ARG_ONE;
    const quota = options?.quota;
    const quotaArgs = quota ? this.quotaArgs(windows, quota) : undefined;
    one.minuteBucket = this.minuteBucket.at(one.nowMs);
    one.dayBucket = this.dayBucket.at(one.nowMs);
    one.args =
      windows.resp +
      (quotaArgs ? quotaArgs.key : "") +
      `$${now.length}\r\n${now}\r\n$${perMinute.length}\r\n${perMinute}\r\n$${perDay.length}\r\n${perDay}\r\n` +
      cost +
      consume +
      one.minuteBucket +
      one.dayBucket +
      (quotaArgs ? quotaArgs.tail : "");
    one.slot = windows.slot;
    this.queueFor(one);
  }

  /**
   * The call's EVALSHA: its arguments, a lease to give back (its units and buckets) when it carries
   * one, and last how many checks it decides, the lease asked for included.
   */
  private command(one: Pending): string {
    const n = one.waiters.length + one.extra;
    const count = n === 1 ? ARG_ONE : bulk(String(n));
    const back = one.giveBack;
    const returned = back ? bulk(String(back.left)) + back.minuteBucket + back.dayBucket : "";
    const size = (one.options?.quota ? 16 : 13) + (back ? 3 : 0);
    const keys = one.options?.quota ? "$1\r\n3\r\n" : "$1\r\n2\r\n";
    return `*${size}\r\n$7\r\nEVALSHA\r\n$40\r\n${this.connection.sha}\r\n${keys}${one.args}${returned}${count}`;
  }

  /** Queues a built check for its slot's node, to be written when this turn of the event loop ends. */
  private queueFor(one: Pending): void {
    const connection = this.connection.nodeFor(one.slot);
    if (!connection) {
      this.connection.suspect();
      seal(one);
      rejectAll(one, new RedisUnavailable("no Redis Cluster node is known for this key yet"));
      return;
    }
    const queue = this.queues.get(connection);
    if (queue) queue.push(one);
    else this.queues.set(connection, [one]);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  /** Sets a missing quota counter to what Postgres holds; SET NX, so of several replicas one sets it. */
  private rebuild(userId: string, quota: QuotaRequest, nowMs: number): Promise<void> {
    const id = `${userId}\n${quota.periodStart}`;
    let pending = this.rebuilding.get(id);
    if (!pending) {
      pending = this.quotaBaseline(userId, quota.periodStart, quota.periodEnd)
        .then((used) => {
          const ttl = String(Math.max(1, quota.periodEnd - nowMs + QUOTA_TTL_SLACK_MS));
          // The counter holds 1 + the units used (see rate-limit.lua).
          const key = this.quotaKey(userId, quota.periodStart);
          const command = encodeCommand(["SET", key, String(used + 1), "NX", "PX", ttl]);
          return sendCommand(this.connection, command, keySlot(key), this.timeoutMs).then(() => undefined);
        })
        .finally(() => this.rebuilding.delete(id));
      this.rebuilding.set(id, pending);
    }
    return pending;
  }

  /**
   * Units a user has used in a billing period, exact: the quota counter, rebuilt first when missing.
   * For the management API; the check reads the counter in its own script call.
   */
  async quotaUsed(userId: string, quota: QuotaRequest, nowMs: number): Promise<number> {
    const key = this.quotaKey(userId, quota.periodStart);
    const get = () => sendCommand(this.connection, encodeCommand(["GET", key]), keySlot(key), this.timeoutMs);
    let reply = await get();
    if (reply === null) {
      await this.rebuild(userId, quota, nowMs);
      reply = await get();
    }
    return Math.max(0, Number(reply ?? 1) - 1);
  }

  private flush(): void {
    this.flushScheduled = false;
    const queues = this.queues;
    this.queues = new Map();
    for (const [connection, pending] of queues) {
      let resp = "";
      for (const one of pending) {
        seal(one);
        if (this.keeper && one.waiters.length > 0 && one.options?.consume !== false && !one.rebuilt) {
          one.extra = this.keeper.wanted(one.windows, one.nowMs, one.options);
        }
        if (one.extra > 0) one.windows.leases.asking = true;
        one.resp = this.command(one);
        resp += one.resp;
      }
      this.send(connection, pending, resp, false);
    }
  }

  private send(connection: ScriptChannel, pending: Pending[], resp: string, asking: boolean): void {
    const batch: Batch = {
      connection,
      sentAt: performance.now(),
      left: pending.length,
      settled: false,
      pending,
    };
    const callbacks = pending.map(
      (one): ReplyCallback =>
        (err, reply) => {
          batch.left -= 1;
          if (batch.left === 0) this.inFlight.delete(batch);
          if (err?.message.startsWith("NOSCRIPT")) connection.reset("Redis lost the rate-limit script");
          if (err instanceof RedisUnavailable) this.connection.suspect();
          if (batch.settled) return;
          if (err) this.failed(one, err);
          else if (!isScriptReply(reply)) {
            rejectAll(one, new Error("Redis answered the rate-limit script with an unexpected reply"));
          } else if (reply[0] === QUOTA_MISSING) this.afterMissingQuota(one);
          else this.settle(one, reply);
        },
    );
    // Not connected: send() fails every callback at once, so there is nothing to watch.
    if (connection.isReady) {
      this.inFlight.add(batch);
      this.watch();
    }
    if (asking) connection.send(ASKING + resp, [noop, ...callbacks]);
    else connection.send(resp, callbacks);
  }

  /** A check Redis answered with an error: sent once more after a redirect, else failed. */
  private failed(one: Pending, err: Error): void {
    let to: Redirect | undefined;
    try {
      to = one.redirected ? undefined : redirection(this.connection, err);
    } catch (wrongUrl) {
      rejectAll(one, wrongUrl);
      return;
    }
    if (!to) {
      // The cluster lost a node's slots: the map may have changed (a failover), read it again.
      if (err.message.startsWith("CLUSTERDOWN")) this.connection.suspect();
      rejectAll(one, err);
      return;
    }
    const again = { ...one, redirected: true };
    const resend = to.ask
      ? () => this.send(to.connection, [again], one.resp, true)
      : () => this.queueFor(again);
    whenReady(to.connection, this.timeoutMs, resend, (failure) => rejectAll(one, failure));
  }

  /** Answers the call's checks, and keeps what the script admitted beyond them as the key's lease. */
  private settle(one: Pending, reply: ScriptReply): void {
    const windows = one.windows;
    if (one.extra > 0) windows.leases.asking = false;
    const held = this.keeper?.held(windows, one.minuteBucket) ?? 0;
    one.waiters.forEach((waiter, i) => {
      waiter.resolve(toResult(reply, one, waiter, i, held));
    });
    if (!this.keeper) return;
    const [admitted, minuteUsed, minuteResetMs, dayUsed, dayResetMs, , quotaUsed] = reply;
    const counts = { minuteUsed, minuteResetMs, dayUsed, dayResetMs, quotaUsed };
    this.keeper.granted(windows, one, counts, (admitted - one.waiters.length) * (one.options?.cost ?? 1));
  }

  /** A call that decides none of a client's checks: a lease asked for ahead, or one given back. */
  private leaseCall(
    windows: WindowArgs,
    limits: Limits,
    nowMs: number,
    options: LimitOptions | undefined,
  ): Pending {
    const call = scriptCall({ id: windows.id, userId: windows.userId }, windows, limits, nowMs, options, []);
    call.open = false;
    return call;
  }

  private afterMissingQuota(one: Pending): void {
    const quota = one.options?.quota;
    if (!quota || one.rebuilt) {
      rejectAll(one, new Error("the quota counter is still missing after it was rebuilt"));
      return;
    }
    this.rebuild(one.key.userId, quota, one.nowMs).then(
      () => this.enqueue({ ...one, rebuilt: true, redirected: false, open: false }),
      (err: unknown) => rejectAll(one, err),
    );
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
        for (const one of batch.pending) rejectAll(one, err);
      }
      if (now - batch.sentAt >= Math.max(STALE_MS, 10 * this.timeoutMs)) {
        batch.connection.reset(`Redis owed replies for over ${Math.round(now - batch.sentAt)} ms`);
        break;
      }
    }
    if (this.inFlight.size === 0 && this.watchdog) {
      clearInterval(this.watchdog);
      this.watchdog = undefined;
    }
  }
}

/** The call is written (or failed): nothing joins it any more, and the key's arguments do not keep it. */
function seal(one: Pending): void {
  one.open = false;
  if (one.windows.call === one) one.windows.call = undefined;
}

/** A script call of the key, not yet built (enqueue builds it) and open for checks to join. */
function scriptCall(
  key: LimitKey,
  windows: WindowArgs,
  limits: Limits,
  nowMs: number,
  options: LimitOptions | undefined,
  waiters: Waiter[],
): Pending {
  return {
    key,
    limits,
    nowMs,
    options,
    rebuilt: false,
    args: "",
    minuteBucket: "",
    dayBucket: "",
    open: true,
    windows,
    resp: "",
    slot: 0,
    redirected: false,
    waiters,
    extra: 0,
  };
}

function rejectAll(one: Pending, err: unknown): void {
  if (one.extra > 0) one.windows.leases.asking = false;
  for (const waiter of one.waiters) waiter.reject(err);
}
