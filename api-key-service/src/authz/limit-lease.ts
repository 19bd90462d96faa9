import type { LimitResult, Limits, QuotaRequest } from "./sliding-window.js";

/**
 * Units of a hot key that Redis has already counted for this replica and that the replica hands out
 * itself, without a round trip, within the one-second bucket they were counted in.
 *
 * The script decides a call's checks one after another, so a call that asks for `n` checks and `k`
 * more units of the same cost admits the checks first and then as many of the extra units as fit:
 * those are counted in the current minute and day buckets and the user's quota like any admitted
 * request, and become the lease. A check the lease covers is admitted here, and its counts are the
 * call's counts less the units still unused, as if it had been one of the call's checks. So no limit
 * is ever exceeded: every unit handed out was counted in Redis first, in the bucket it is handed out
 * in. What a lease costs the other replicas is that its unused units count as used until they are
 * handed out or given back: right after the bucket ends, the replica gives back what is left
 * (rate-limit.lua's return), so for at most about a second, and a lease is never more than an eighth
 * of what the limits had left. A replica that dies holding a lease loses its units until they leave
 * the windows (a minute, a day) and the quota's period: it under-admits, never over-admits. A check
 * on a blocking quota is never leased to (lease-keeper.ts).
 */
export class Lease {
  constructor(
    /** The terms of the call that got it: a check on other terms goes to Redis. */
    readonly limits: Limits,
    readonly cost: number,
    readonly quota: QuotaRequest | undefined,
    /** The minute bucket the units were counted in (floor(now / 1 s)), and it and the day bucket as the script's field names. */
    readonly bucket: number,
    readonly minuteBucket: string,
    readonly dayBucket: string,
    /** The time the script decided at, and its counts and resets then, lease included. */
    private readonly nowMs: number,
    private counts: LeaseCounts,
    /** Units not yet handed out. */
    public left: number,
  ) {}

  private static granted = 0;
  /** Leases in the order Redis granted them. */
  readonly serial = ++Lease.granted;

  /**
   * A counted check of `cost` units on the lease's terms in its buckets, admitted from the lease;
   * undefined when the lease does not cover it.
   */
  take(
    limits: Limits,
    nowMs: number,
    cost: number,
    quota: QuotaRequest | undefined,
  ): LimitResult | undefined {
    if (
      this.left < cost ||
      cost !== this.cost ||
      quota !== this.quota ||
      limits.perMinute !== this.limits.perMinute ||
      limits.perDay !== this.limits.perDay
    ) {
      return undefined;
    }
    this.left -= cost;
    const late = nowMs - this.nowMs;
    const { counts } = this;
    // A window's oldest bucket leaves it at the end of a bucket at the earliest, so within the
    // lease's bucket the resets only shorten by the time passed.
    const result: LimitResult = {
      allowed: true,
      minute: {
        limit: limits.perMinute,
        used: counts.minuteUsed - this.left,
        resetMs: counts.minuteResetMs - late,
      },
      day: { limit: limits.perDay, used: counts.dayUsed - this.left, resetMs: counts.dayResetMs - late },
      retryAfterMs: 0,
      source: "redis",
    };
    if (quota) {
      result.quota = {
        limit: quota.limit,
        used: counts.quotaUsed - this.left,
        periodStart: quota.periodStart,
        periodEnd: quota.periodEnd,
        resetMs: quota.periodEnd - nowMs,
        exceeded: false,
      };
    }
    return result;
  }

  /**
   * An earlier lease of the key is given back unused: this one's counts, taken while Redis still
   * held that one's units, count them no more (its minute count only when that lease's bucket was
   * in its minute window, not after it).
   */
  forget(earlier: Lease): void {
    if (earlier.serial > this.serial) return;
    const units = earlier.left;
    const { counts } = this;
    this.counts = {
      ...counts,
      minuteUsed: counts.minuteUsed - (earlier.bucket <= this.bucket ? units : 0),
      dayUsed: counts.dayUsed - units,
      quotaUsed: counts.quotaUsed - (earlier.quota === this.quota ? units : 0),
    };
  }
}

export interface LeaseCounts {
  minuteUsed: number;
  minuteResetMs: number;
  dayUsed: number;
  dayResetMs: number;
  quotaUsed: number;
}

/**
 * A key is leased to only once this replica has been asked for this many units of it in one bucket,
 * and a lease is never smaller: a key with less left under a limit than eight times this is not
 * leased to.
 */
export const LEASE_MIN_UNITS = 16;
/** A lease is at most this share of what the tightest limit had left at the key's last answer. */
const LEASE_SHARE_OF_ROOM = 1 / 8;
/** and never more than this many units. */
const LEASE_MAX_UNITS = 20_000;

/**
 * How many extra checks of `cost` units to ask for with a call: the units this replica can expect to
 * hand out before the bucket ends, at the key's rate so far (`demand` units in this bucket by
 * `elapsedMs`, `previous` in the whole bucket before), with a quarter to spare; at most an eighth of
 * `room` (what the tightest limit had left at the key's last answer). 0 when the key is not hot or
 * the lease would be smaller than LEASE_MIN_UNITS.
 */
export function leaseChecks(
  demand: number,
  previous: number,
  elapsedMs: number,
  bucketMs: number,
  room: number,
  cost: number,
): number {
  if (demand + previous < LEASE_MIN_UNITS) return 0;
  const rate = Math.max(previous / bucketMs, demand / Math.max(elapsedMs, bucketMs / 10));
  const expected = rate * (bucketMs - elapsedMs) * 1.25;
  const units = Math.min(expected, room * LEASE_SHARE_OF_ROOM, LEASE_MAX_UNITS);
  return units >= LEASE_MIN_UNITS ? Math.floor(units / cost) : 0;
}
