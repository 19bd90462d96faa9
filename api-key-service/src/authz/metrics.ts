import { unauthenticatedCounter } from "@gateway/common";
import { Counter, Histogram, type Registry } from "prom-client";

/** The ext_authz path's metrics, registered once per service instance. */
export class AuthzMetrics {
  readonly checks: Counter<"outcome" | "reason">;
  /** authz_checks_total{outcome="allowed"}: the answer to nearly every call. */
  readonly allowed = new HotSeries<"outcome" | "reason">({ outcome: "allowed", reason: "" });
  /** key_cache_lookups_total{result="hit"}: nearly every check is one. */
  readonly cacheHits = new HotSeries<"result">({ result: "hit" });
  readonly duration: Histogram<"outcome">;
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
    this.duration = new Histogram({
      name: "authz_check_duration_seconds",
      help: "Time to decide one ext_authz check, in the service",
      labelNames: ["outcome"],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers,
    });
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
