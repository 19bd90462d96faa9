import { readFileSync } from "node:fs";
import { bulk, type Reply } from "./script-connection.js";
import { DAY, type LimitOptions, type LimitResult, type Limits, MINUTE } from "./sliding-window.js";

// The rate-limit script as Redis runs it, its arguments as RESP text and its reply as a decision:
// what RedisRateLimiter (redis-limiter.ts) writes and reads for every check it sends.

/**
 * Checks and counts both windows, and the user's quota when there is one, in one atomic script, one
 * round trip (rate-limit.lua). Each window is a hash of bucket -> count plus `t` (the window's total)
 * and `o` (the oldest bucket holding a count, kept exact whenever `t` > 0). Expired buckets are
 * subtracted from `t` as `o` moves forward, so a call touches O(1) fields on average: an admitted
 * request in steady state costs HMGET and two HINCRBYs per window, plus one INCRBY for a quota.
 * The hash expires a full window after its newest bucket was created, the last moment any of its
 * counts matters, and is deleted once no count is left. A refused request changes no count, and
 * neither does a read (consume "0"): it decides as a request of that cost would, and reports the
 * counts as they stand.
 */
export const SCRIPT = readFileSync(new URL("./rate-limit.lua", import.meta.url), "utf8")
  .replaceAll("{{MINUTE_BUCKET_MS}}", String(MINUTE.bucketMs))
  .replaceAll("{{MINUTE_BUCKETS}}", String(MINUTE.buckets))
  .replaceAll("{{DAY_BUCKET_MS}}", String(DAY.bucketMs))
  .replaceAll("{{DAY_BUCKETS}}", String(DAY.buckets));

export type ScriptReply = [number, number, number, number, number, number, number, number];

/** The script's answer when the quota counter is missing and must be rebuilt before deciding. */
export const QUOTA_MISSING = -1;

// "1" and "0" as RESP bulk strings: the usual cost and both consume flags cost the hot path no string.
export const ARG_ONE = "$1\r\n1\r\n";
export const ARG_ZERO = "$1\r\n0\r\n";
/** Costs 1–100 as RESP bulk strings, built once: a route's cost costs the hot path no string. */
export const COST_ARGS = Array.from({ length: 101 }, (_, cost) => bulk(String(cost)));

/**
 * A window's current bucket, floor(now / bucketMs), as the RESP bulk string the script uses for the
 * bucket's field name: built once per bucket (a second, or 15 minutes), not per check.
 */
export class BucketArg {
  private bucket = Number.NaN;
  private arg = "";

  constructor(private readonly bucketMs: number) {}

  at(nowMs: number): string {
    const bucket = Math.floor(nowMs / this.bucketMs);
    if (bucket !== this.bucket) {
      this.bucket = bucket;
      this.arg = bulk(String(bucket));
    }
    return this.arg;
  }
}

export function isScriptReply(reply: Reply): reply is ScriptReply {
  return Array.isArray(reply) && reply.length === 8 && reply.every((n) => typeof n === "number");
}

/**
 * The text in one piece. V8 keeps a concatenation as a tree of its parts (here five strings and
 * three joins per key, ~170 bytes more than the text), and a key's window arguments live as long as
 * its record is cached.
 */
export function flat(text: string): string {
  return Buffer.from(text, "utf8").toString("utf8");
}

/** What a script call was asked on: its limits, its first check's time, its cost and quota. */
export interface ScriptCallTerms {
  limits: Limits;
  nowMs: number;
  options: LimitOptions | undefined;
}

/**
 * The answer to the call's `i`-th check. The script admitted the first `admitted` and reports the
 * counts after all of them, so an admitted check's counts leave out the ones admitted after it (a
 * lease asked for with it included) and the `held` units of an earlier lease not handed out yet; and
 * it measured times from the call's first check, so they are shifted by how much later this one came.
 */
export function toResult(
  reply: ScriptReply,
  one: ScriptCallTerms,
  waiter: { nowMs: number },
  i: number,
  held: number,
): LimitResult {
  const [admitted, minuteUsed, minuteReset, dayUsed, dayReset, retry, quotaUsed, quotaRefused] = reply;
  const allowed = i < admitted;
  const after = (allowed ? (admitted - 1 - i) * (one.options?.cost ?? 1) : 0) + held;
  const late = waiter.nowMs - one.nowMs;
  const result: LimitResult = {
    allowed,
    minute: { limit: one.limits.perMinute, used: minuteUsed - after, resetMs: shifted(minuteReset, late) },
    day: { limit: one.limits.perDay, used: dayUsed - after, resetMs: shifted(dayReset, late) },
    retryAfterMs: allowed ? 0 : shifted(retry, late),
    source: "redis",
  };
  const quota = one.options?.quota;
  if (quota) {
    result.quota = {
      limit: quota.limit,
      used: quotaUsed - after,
      periodStart: quota.periodStart,
      periodEnd: quota.periodEnd,
      resetMs: quota.periodEnd - waiter.nowMs,
      exceeded: !allowed && quotaRefused === 1,
    };
  }
  return result;
}

/** A time from the script ("in `ms` ms", 0 for none) as seen `late` ms later. */
function shifted(ms: number, late: number): number {
  return ms > 0 ? ms - late : 0;
}
