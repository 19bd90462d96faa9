/** Latency percentiles in microseconds, as the report prints them. */
export interface LatencySummary {
  count: number;
  meanUs: number;
  p50Us: number;
  p99Us: number;
  p999Us: number;
  maxUs: number;
}

// Three significant digits (< 1 % error) from 1 µs to 100 s in 5,500 counters: recording stays a
// couple of arithmetic operations with no allocation, which matters in the load generator's hot path.
const EXACT = 1_000;
const PER_DECADE = 900;
const MAX_US = 99_999_999;
const BUCKETS = EXACT + 5 * PER_DECADE;

function bucketOf(us: number): number {
  const v = Math.min(Math.max(Math.floor(us), 0), MAX_US);
  if (v < EXACT) return v;
  const decade = Math.floor(Math.log10(v));
  const step = 10 ** (decade - 2);
  return EXACT + (decade - 3) * PER_DECADE + Math.floor(v / step) - 100;
}

function lowerBoundOf(bucket: number): number {
  if (bucket < EXACT) return bucket;
  const offset = bucket - EXACT;
  const decade = Math.floor(offset / PER_DECADE) + 3;
  return (100 + (offset % PER_DECADE)) * 10 ** (decade - 2);
}

export class Histogram {
  private readonly counts = new Uint32Array(BUCKETS);
  private total = 0;
  private sum = 0;
  private max = 0;

  record(us: number): void {
    const i = bucketOf(us);
    this.counts[i] = (this.counts[i] ?? 0) + 1;
    this.total++;
    this.sum += us;
    if (us > this.max) this.max = us;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.sum = 0;
    this.max = 0;
  }

  get count(): number {
    return this.total;
  }

  /** The smallest recorded bucket value at or below which `q` of the samples fall. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i] ?? 0;
      if (seen >= rank) return Math.min(lowerBoundOf(i), this.max);
    }
    return this.max;
  }

  summary(): LatencySummary {
    return {
      count: this.total,
      meanUs: this.total === 0 ? 0 : this.sum / this.total,
      p50Us: this.quantile(0.5),
      p99Us: this.quantile(0.99),
      p999Us: this.quantile(0.999),
      maxUs: this.max,
    };
  }
}
