import { Counter, Histogram, type Registry } from "prom-client";

/** The ext_authz path's metrics, registered once per service instance. */
export class AuthzMetrics {
  readonly checks: Counter<"outcome" | "reason">;
  /**
   * Allowed checks not yet added to `checks`: the answer to nearly every call is counted as a plain
   * number and added to authz_checks_total{outcome="allowed"} whenever the metric is read, since
   * prom-client builds a label hash string on every inc().
   */
  private allowedPending = 0;
  /** Cache hits not yet added to `cache`, for the same reason (nearly every check is one). */
  private hitsPending = 0;
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
      collect: () => this.addAllowed(),
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
      collect: () => this.addHits(),
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
    this.unauthenticated = new Counter({
      name: "grpc_unauthenticated_total",
      help: "gRPC calls refused for a missing or wrong x-gateway-token (INTERNAL_TOKEN), by gRPC service",
      labelNames: ["service"],
      registers,
    });
  }

  /** Counts one allowed check (see allowedPending). */
  countAllowed(): void {
    this.allowedPending += 1;
  }

  /** Counts one key cache hit (see hitsPending). */
  countCacheHit(): void {
    this.hitsPending += 1;
  }

  private addHits(): void {
    if (this.hitsPending === 0) return;
    this.cache.inc({ result: "hit" }, this.hitsPending);
    this.hitsPending = 0;
  }

  private addAllowed(): void {
    if (this.allowedPending === 0) return;
    this.checks.inc({ outcome: "allowed", reason: "" }, this.allowedPending);
    this.allowedPending = 0;
  }
}
