import type { MachineInfo } from "@gateway/harness";
import type { Failures, GeneratorConfig, GeneratorResult } from "./generator-protocol.js";
import type { PgCounts } from "./pg-counter.js";
import type { MonitorCounts, RedisDelta } from "./redis-stats.js";

export type TargetKind = "service" | "no-op";

export interface RunSpec {
  target: TargetKind;
  /** generator.ts, or h2load as an independent cross-check (hot key, closed loop only). */
  generator: "bench" | "h2load";
  keys: GeneratorConfig["keys"];
  mode: GeneratorConfig["mode"];
  /** Paced runs only. */
  rate: number;
  /**
   * The quota comparison: "quota" runs send keys whose users are on a plan with a monthly quota, on a
   * route of cost 3; "plain" runs the usual keys beside them, alternated (run.ts, QUOTA_ORDER), so drift
   * weighs on both sides alike. Both stay out of the other figures.
   */
  variant?: "quota" | "plain";
}

export interface ServiceCounters {
  /** key_store_queries_total: Postgres key lookups (misses and stale refreshes). */
  keyStoreQueries: number | undefined;
  /** key_cache_lookups_total by result. */
  cache: Record<string, number>;
  /** authz_checks_total by outcome and reason. */
  checks: Record<string, number>;
  /** authz_dependency_errors_total. */
  dependencyErrors: number;
  /**
   * The service's event-loop delay over the window (prom-client resets its histogram at every
   * scrape, and the window starts with one): a stalled loop delays every check queued behind it.
   */
  eventLoopDelay: { p99Ms: number; maxMs: number } | undefined;
}

/** One unmeasured pass over every key just before a spread run, so the run starts with a warm cache. */
export interface PrewarmRecord {
  checks: number;
  seconds: number;
  concurrency: number;
  failures: Failures;
  statements: Record<string, number>;
}

export interface RunRecord {
  spec: RunSpec;
  /** 1 when the run was measured twice because other work disturbed a window (the quieter one is kept). */
  discarded: number;
  prewarm: PrewarmRecord | undefined;
  config: Omit<GeneratorConfig, "port" | "bodiesFile">;
  generator: GeneratorResult;
  /** Between the orchestrator's two snapshots (close to the generator's own window). */
  windowS: number;
  cpu: {
    /** From /proc/<pid>/stat, like the server's, over the same snapshots. */
    generator: number;
    server: number;
    redis: number;
    /** Every postgres process alive at the end of the window (the server is shared: other users too). */
    postgres: number;
    /** All busy CPU time on the machine over the window. */
    machine: number;
  };
  redis: RedisDelta;
  /** Service runs: statements seen by the Postgres relay. */
  pg: PgCounts | undefined;
  service: ServiceCounters | undefined;
}

export function failureCount(f: Failures): number {
  return f.http + f.grpc + f.denied + f.transport + f.skipped + f.decodeMismatch;
}

/** A run is a figure only if nothing failed inside its measured window. */
export function isValid(run: RunRecord): boolean {
  return run.generator.checks > 0 && failureCount(run.generator.failures) === 0;
}

/**
 * A paced run whose only failures are sends skipped at the in-flight cap: the target answered
 * everything it was sent, correctly, but slower than the schedule, so requests piled up to the cap.
 * That is what was measured (the rate was not sustained), not a fault of the measurement.
 */
export function fellBehind(run: RunRecord): boolean {
  const f = run.generator.failures;
  return (
    run.spec.mode === "paced" && run.generator.checks > 0 && f.skipped > 0 && failureCount(f) === f.skipped
  );
}

export interface RedisSample {
  /** Set for the sample taken with the quota keys. */
  variant?: "quota";
  keys: GeneratorConfig["keys"];
  rate: number;
  checks: number;
  counts: MonitorCounts;
}

export interface BenchOptions {
  durationS: number;
  warmupS: number;
  concurrency: number;
  connections: number;
  keys: number;
  pacedCap: number;
  pgUrl: string;
  redisUrl: string;
  output: string;
}

export interface H2loadInfo {
  /** What happened when looking for (or installing) h2load. */
  note: string;
  version: string | undefined;
}

export interface BenchReport {
  startedAt: Date;
  wallS: number;
  machine: MachineInfo;
  options: BenchOptions;
  seedS: number;
  runs: RunRecord[];
  redisSamples: RedisSample[];
  /** Over the service's whole life: statements through the relay vs. what pg_stat_database counted. */
  pgTotals: { statements: number; xactCommit: number } | undefined;
  h2load: H2loadInfo;
  /** KEY_CACHE_TTL and AUTHZ_FLUSH_INTERVAL as the service read them, in seconds. */
  serviceSettings: { keyCacheTtlS: number; flushIntervalS: number };
  /** Seconds spent waiting for other work on the machine to pass, and the budget for it. */
  quietWait: { waitedS: number; budgetS: number };
  /** Runs measured again because other work disturbed them, and the budget for it. */
  retries: { used: number; budget: number };
  /** CPU seconds DAMON's kernel threads (kdamond) used over the whole benchmark. */
  kdamondCpuS: number;
}

/** Busy CPU on the machine charged to none of the processes the run is about. */
export function otherCpu(run: RunRecord): number {
  const c = run.cpu;
  return Math.max(0, c.machine - c.generator - c.server - c.redis - c.postgres);
}

/** Other processes took more than a quarter of a core on average during the window. */
export const NOISY_CORES = 0.25;

export function isNoisy(run: RunRecord): boolean {
  return run.windowS > 0 && otherCpu(run) / run.windowS > NOISY_CORES;
}
