import { unauthenticatedCounter } from "@gateway/common";
import { Counter, type Metric, type MetricValueWithName, type Registry } from "prom-client";

/** The ext_authz path's metrics, registered once per service instance. */
export class AuthzMetrics {
  readonly checks: Counter<"outcome" | "reason">;
  /** authz_checks_total{outcome="allowed"}: the answer to nearly every call. */
  readonly allowed = new HotSeries<"outcome" | "reason">({ outcome: "allowed", reason: "" });
  /** key_cache_lookups_total{result="hit"}: nearly every check is one. */
  readonly cacheHits = new HotSeries<"result">({ result: "hit" });
  readonly duration: OutcomeHistogram;
  readonly cache: Counter<"result">;
  readonly storeQueries: Counter;
  readonly errors: Counter<"dependency" | "operation">;
  readonly countsDropped: Counter;
  readonly unauthenticated: Counter<"service">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.checks = new Counter({
      name: "authz_checks_total",
      help: "ext_authz checks by outcome (allowed, denied) and denial reason",
      labelNames: ["outcome", "reason"],
      registers,
      collect: () => this.allowed.addTo(this.checks),
    });
    this.duration = new OutcomeHistogram(
      "authz_check_duration_seconds",
      "Time to decide one ext_authz check, in the service",
      [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registry,
    );
    this.cache = new Counter({
      name: "key_cache_lookups_total",
      help: "Key cache lookups: hit, negative_hit (known unknown), stale (served while refreshing), miss",
      labelNames: ["result"],
      registers,
      collect: () => this.cacheHits.addTo(this.cache),
    });
    this.storeQueries = new Counter({
      name: "key_store_queries_total",
      help: "Postgres queries made to look up keys (cache misses and refreshes)",
      registers,
    });
    this.errors = new Counter({
      name: "authz_dependency_errors_total",
      help: "Failed or timed-out calls to Redis and Postgres on the ext_authz path",
      labelNames: ["dependency", "operation"],
      registers,
    });
    this.countsDropped = new Counter({
      name: "authz_counts_dropped_total",
      help: "Per-key allowed/denied counts dropped because Postgres stayed unreachable past the buffer bound",
      registers,
    });
    this.unauthenticated = unauthenticatedCounter(registry);
  }
}

/**
 * One series of a labelled counter that nearly every check adds to, counted as a plain number and
 * added to the counter whenever the metric is read (its `collect`): prom-client builds a label hash
 * string on every inc().
 */
class HotSeries<L extends string> {
  private pending = 0;

  constructor(private readonly labels: Partial<Record<L, string>>) {}

  inc(): void {
    this.pending += 1;
  }

  addTo(counter: Counter<L>): void {
    if (this.pending === 0) return;
    counter.inc(this.labels, this.pending);
    this.pending = 0;
  }
}

/**
 * A histogram labelled by outcome, counted in arrays and read out in prom-client's shape, which the
 * registry renders as it renders its own histograms (the same lines). prom-client's observe() builds
 * a label hash and a bucket's property name on every call: ~0.5 µs, about 5 % of a check's CPU at
 * 12,000 checks/s; this counts one in ~20 ns.
 */
export class OutcomeHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly outcomes = new Map<string, OutcomeSeries>();

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    registry: Registry,
  ) {
    // The registry takes any object that answers get() and reset() as its metrics do.
    registry.registerMetric(this as unknown as Metric);
  }

  /** The series of one outcome, for a caller that counts into it on every check. */
  series(outcome: string): OutcomeSeries {
    let series = this.outcomes.get(outcome);
    if (!series) {
      series = new OutcomeSeries(this.buckets);
      this.outcomes.set(outcome, series);
    }
    return series;
  }

  observe(outcome: string, seconds: number): void {
    this.series(outcome).observe(seconds);
  }

  async get(): Promise<HistogramValues> {
    const values: MetricValueWithName<string>[] = [];
    for (const [outcome, series] of this.outcomes) {
      let cumulative = 0;
      this.buckets.forEach((le, i) => {
        cumulative += series.counts[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { le, outcome }, value: cumulative });
      });
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { le: "+Inf", outcome },
        value: series.count,
      });
      values.push({ metricName: `${this.name}_sum`, labels: { outcome }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { outcome }, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.outcomes.clear();
  }
}

/** What a registry reads of a metric (prom-client's MetricObjectWithValues). */
interface HistogramValues {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  values: MetricValueWithName<string>[];
}

/** One outcome's counts: per bucket (the last is above every bound), their sum and their number. */
export class OutcomeSeries {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(private readonly buckets: readonly number[]) {
    this.counts = new Float64Array(buckets.length + 1);
  }

  observe(seconds: number): void {
    const buckets = this.buckets;
    let i = 0;
    while (i < buckets.length && seconds > (buckets[i] as number)) i++;
    this.counts[i] = (this.counts[i] as number) + 1;
    this.sum += seconds;
    this.count++;
  }
}
