import type { Progress } from "./generator-protocol.js";
import type { LagSummary } from "./results.js";

/** sum(requests) in usage_minutes at one instant (Date.now() before the query was sent). */
export interface PostgresSample {
  at: number;
  requests: number;
}

/**
 * How far behind Postgres is at one sample: the age of the oldest entry the generator had sent that
 * Postgres does not hold yet, read off the generator's cumulative timeline (interpolated between its
 * points, 100 ms apart). Entries are taken to arrive in the order they were sent; 0 when Postgres
 * holds everything sent by then.
 */
export function lagAt(timeline: readonly Progress[], sample: PostgresSample): number {
  // The generator's count at the sample's time: the last point at or before it.
  let lo = 0;
  let hi = timeline.length - 1;
  let sentBy = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const point = timeline[mid] as Progress;
    if (point.at <= sample.at) {
      sentBy = point.counted;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (sample.requests >= sentBy) return 0;
  // The first point whose count exceeds what Postgres holds: the first missing entry went out
  // between the point before it and it.
  lo = 0;
  hi = timeline.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((timeline[mid] as Progress).counted > sample.requests) hi = mid;
    else lo = mid + 1;
  }
  const after = timeline[lo] as Progress;
  const before = lo > 0 ? (timeline[lo - 1] as Progress) : { at: after.at, counted: 0 };
  const share =
    after.counted > before.counted
      ? (sample.requests - before.counted) / (after.counted - before.counted)
      : 1;
  const sentAt = before.at + Math.max(0, Math.min(1, share)) * (after.at - before.at);
  return Math.max(0, (sample.at - sentAt) / 1000);
}

export function summarizeLag(timeline: readonly Progress[], samples: readonly PostgresSample[]): LagSummary {
  const lags = samples.map((sample) => lagAt(timeline, sample)).sort((a, b) => a - b);
  if (lags.length === 0) return { samples: 0, maxS: Number.POSITIVE_INFINITY, meanS: 0, p90S: 0 };
  return {
    samples: lags.length,
    maxS: lags[lags.length - 1] as number,
    meanS: lags.reduce((a, b) => a + b, 0) / lags.length,
    p90S: lags[Math.min(lags.length - 1, Math.floor(lags.length * 0.9))] as number,
  };
}
