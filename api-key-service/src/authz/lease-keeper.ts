import { LEASE_MIN_UNITS, Lease, type LeaseCounts, leaseChecks } from "./limit-lease.js";
import {
  type LimitOptions,
  type LimitResult,
  type Limits,
  MINUTE,
  type QuotaRequest,
} from "./sliding-window.js";

/** A hot key's lease for the next bucket is asked for this long before the bucket ends. */
const LEASE_AHEAD_MS = 4;
/** Unused units of a bucket's leases are given back this long after it ends. */
const LEASE_BACK_MS = 2;

/** One key's leasing, kept beside its script arguments. */
export class KeyLeases {
  /** The lease for the current bucket, and the one asked for ahead of the next. */
  lease?: Lease;
  next?: Lease;
  /** A call asking for a lease has no answer yet: one at a time per key. */
  asking = false;
  /** Counted units this replica was asked for in the minute bucket `bucket`, and in the one before. */
  demand = 0;
  previous = 0;
  bucket = 0;
  /** What the tightest limit had left at the key's last answer (0 before the first). */
  room = 0;
  /**
   * The last counted check's terms, which the next bucket's lease is asked for on: its limits, cost
   * and quota, objects that live as long as the key record or the quota's period. Not the check's
   * options object: on the gRPC path that is the request itself (its CheckInput, over its bytes),
   * which this long-lived state would keep past young-generation collections.
   */
  limits?: Limits;
  cost = 1;
  quota?: QuotaRequest;
  /** In the keeper's set of keys a lease is kept up for. */
  hot = false;
}

/** The script calls a keeper has the limiter make; neither decides a client's check. */
export interface LeaseCalls<K> {
  /** `extra` checks on these terms at `nowMs` (the next bucket's start); answered through `granted`. */
  askAhead(key: K, limits: Limits, nowMs: number, options: LimitOptions | undefined, extra: number): void;
  /** Gives the lease's unused units back (rate-limit.lua's return). */
  giveBack(key: K, lease: Lease, nowMs: number): void;
}

/** What a script call was, for the lease its answer may carry. */
export interface GrantedCall {
  limits: Limits;
  options: LimitOptions | undefined;
  nowMs: number;
  minuteBucket: string;
  dayBucket: string;
  /** Asked for ahead of its bucket (askAhead). */
  ahead?: boolean;
}

/**
 * Keeps hot keys' leases (limit-lease.ts): hands out their units, sizes the leases calls ask for,
 * keeps what the script granted, asks for each hot key's next lease before its bucket begins, and
 * gives back what a bucket's leases left unused. The timer has two beats a bucket: LEASE_AHEAD_MS
 * before a bucket ends, each key still asked for gets a call for the next bucket's lease (so its
 * checks find it there and none waits for Redis when the bucket changes); LEASE_BACK_MS after it
 * ends, the ended buckets' unused units are given back. Keys not asked for in a whole bucket leave
 * the hot set; the timer stops when none is left.
 */
export class LeaseKeeper<K extends { leases: KeyLeases }> {
  private readonly hot = new Set<K>();
  private returns: { key: K; lease: Lease }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly calls: LeaseCalls<K>) {}

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * A counted check admitted from the key's lease for its bucket (the one asked for ahead, once its
   * bucket has come), or undefined: then it goes to Redis. Notes the key's demand either way. A
   * minute bucket lies inside one day bucket, so a lease of the check's second is of its day too.
   */
  take(key: K, limits: Limits, nowMs: number, options: LimitOptions | undefined): LimitResult | undefined {
    const state = key.leases;
    const cost = options?.cost ?? 1;
    const bucket = Math.floor(nowMs / MINUTE.bucketMs);
    if (bucket !== state.bucket) {
      state.previous = bucket === state.bucket + 1 ? state.demand : 0;
      state.demand = 0;
      state.bucket = bucket;
    }
    state.demand += cost;
    if (!state.hot) {
      // A key asked for rarely keeps nothing of its checks: what one check leaves here until the
      // key's next check would outlive a young-generation collection, and with many such keys fill
      // the old generation.
      if (state.demand < LEASE_MIN_UNITS) return undefined;
      state.hot = true;
      this.hot.add(key);
      this.schedule();
    }
    state.limits = limits;
    state.cost = cost;
    state.quota = options?.quota;
    let lease = state.lease;
    if (lease?.bucket !== bucket) {
      if (lease) this.retire(key, lease);
      lease = state.next?.bucket === bucket ? state.next : undefined;
      state.lease = lease;
      if (lease) state.next = undefined;
    }
    return lease?.take(limits, nowMs, cost, options?.quota);
  }

  /**
   * How many extra checks a counted call of the key at `nowMs` asks for, to keep as its lease. None
   * on a blocking quota: its refusal tells the client to wait for the next period, so it must not
   * come while units sit unused in a lease.
   */
  wanted(key: K, nowMs: number, options: LimitOptions | undefined): number {
    const state = key.leases;
    const bucket = Math.floor(nowMs / MINUTE.bucketMs);
    if (state.asking || bucket !== state.bucket || options?.quota?.block) return 0;
    const elapsedMs = nowMs - bucket * MINUTE.bucketMs;
    return leaseChecks(
      state.demand,
      state.previous,
      elapsedMs,
      MINUTE.bucketMs,
      state.room,
      options?.cost ?? 1,
    );
  }

  /** Units of the key's lease in these buckets that Redis counts and no check has taken yet. */
  held(key: K, minuteBucket: string): number {
    const lease = key.leases.lease;
    return lease && lease.minuteBucket === minuteBucket ? lease.left : 0;
  }

  /**
   * A script call of the key was answered with these counts, and `units` beyond its checks were
   * admitted: they become its lease (with what an earlier lease in the same buckets had left).
   */
  granted(key: K, call: GrantedCall, counts: LeaseCounts, units: number): void {
    const state = key.leases;
    const { limits, options } = call;
    const quota = options?.quota;
    state.room = Math.min(
      limits.perMinute - counts.minuteUsed,
      limits.perDay - counts.dayUsed,
      quota?.block ? quota.limit - counts.quotaUsed : Number.POSITIVE_INFINITY,
    );
    if (units <= 0) return;
    const current = state.lease;
    const held = current && current.minuteBucket === call.minuteBucket ? current : undefined;
    const lease = new Lease(
      limits,
      options?.cost ?? 1,
      quota,
      Math.floor(call.nowMs / MINUTE.bucketMs),
      call.minuteBucket,
      call.dayBucket,
      call.nowMs,
      counts,
      units + (held?.left ?? 0),
    );
    if (held) held.left = 0;
    if (call.ahead) {
      if (state.next) this.retire(key, state.next);
      state.next = lease;
    } else {
      if (current && current !== held) this.retire(key, current);
      state.lease = lease;
    }
  }

  /** The lease's unused units are to be given back: at the next beat, once its bucket has ended. */
  private retire(key: K, lease: Lease): void {
    const state = key.leases;
    if (state.lease === lease) state.lease = undefined;
    if (state.next === lease) state.next = undefined;
    if (lease.left > 0) {
      this.returns.push({ key, lease });
      this.schedule();
      state.lease?.forget(lease);
      state.next?.forget(lease);
    }
  }

  /** The next beat: LEASE_BACK_MS into the current bucket if still to come, else LEASE_AHEAD_MS before its end, else the next bucket's back beat. */
  private schedule(): void {
    if (this.timer) return;
    const now = Date.now();
    const start = now - (now % MINUTE.bucketMs);
    const end = start + MINUTE.bucketMs;
    if (now < start + LEASE_BACK_MS) this.at(now, start + LEASE_BACK_MS, () => this.backBeat());
    else if (now < end - LEASE_AHEAD_MS) this.at(now, end - LEASE_AHEAD_MS, () => this.aheadBeat(end));
    else this.at(now, end + LEASE_BACK_MS, () => this.backBeat());
  }

  private at(now: number, time: number, beat: () => void): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      beat();
      if (this.hot.size > 0 || this.returns.length > 0) this.schedule();
    }, time - now);
    this.timer.unref();
  }

  /** Retires the leases of ended buckets, gives back what they left, and lets go of keys gone cold. */
  private backBeat(): void {
    const now = Date.now();
    const bucket = Math.floor(now / MINUTE.bucketMs);
    for (const key of this.hot) {
      const state = key.leases;
      if (state.lease && state.lease.bucket < bucket) this.retire(key, state.lease);
      if (state.next && state.next.bucket < bucket) this.retire(key, state.next);
      if (state.bucket < bucket - 1) {
        state.hot = false;
        this.hot.delete(key);
      }
    }
    const returns = this.returns;
    this.returns = [];
    for (const { key, lease } of returns) this.calls.giveBack(key, lease, now);
  }

  /**
   * Asks for each hot key's lease for the bucket beginning at `start`, at the rate it was asked for
   * in the bucket before. A beat that runs late asks all the same, for the bucket it is in.
   */
  private aheadBeat(start: number): void {
    const now = Date.now();
    const bucket = Math.floor(start / MINUTE.bucketMs);
    if (Math.floor(now / MINUTE.bucketMs) > bucket) return;
    for (const key of this.hot) this.askAhead(key, bucket, Math.max(now, start));
  }

  /** Asks for the key's lease for `bucket` (at `nowMs`, its start or later), at the rate of the bucket before. */
  private askAhead(key: K, bucket: number, nowMs: number): void {
    const state = key.leases;
    const { limits, cost, quota } = state;
    if (!limits || quota?.block || state.next || state.asking || state.lease?.bucket === bucket) return;
    const before = state.bucket === bucket - 1 ? state.demand : state.bucket === bucket ? state.previous : 0;
    const extra = leaseChecks(0, before, 0, MINUTE.bucketMs, state.room, cost);
    if (extra === 0) return;
    state.asking = true;
    this.calls.askAhead(key, limits, nowMs, { cost, quota }, extra);
  }
}
