/** One measured run, and the unmeasured passes around the runs: key prewarm, Redis sample, probes. */

import { performance } from "node:perf_hooks";
import {
  counterDelta,
  cpuSeconds,
  cpuSecondsBetween,
  cpuSecondsByPid,
  log,
  machineBusySeconds,
  scrapeMetrics,
  sleep,
  sum,
  tcpLocalPortsTo,
  waitForQuiet,
} from "@gateway/harness";
import type { GeneratorConfig } from "./generator-protocol.js";
import { runH2load } from "./h2load.js";
import { runGenerator, type Target } from "./launch.js";
import { type PgCounts, type PgStatementCounter, pgDelta, totalStatements } from "./pg-counter.js";
import { describeProbe, isAllowed, probeCheck } from "./probe.js";
import { type RedisInfo, RedisMonitor, type RedisSnapshot, redisDelta } from "./redis-stats.js";
import { runLabel } from "./report.js";
import {
  type BenchOptions,
  failureCount,
  fellBehind,
  isNoisy,
  isValid,
  otherCpu,
  type PrewarmRecord,
  type RedisSample,
  type RunRecord,
  type RunSpec,
  type ServiceCounters,
} from "./results.js";
import type { ServiceTarget } from "./service.js";

const SPREAD_PROBES = 20;
const PREWARM_CONCURRENCY = 16;
const PREWARM_MAX_S = 60;
/** Longest wait for cached keys to go stale before a prewarm pass (see prewarmKeys). */
const MAX_STALE_WAIT_S = 60;
const MONITOR_SAMPLE_RATE = 500;
const MONITOR_SAMPLE_S = 4;

interface Snapshot {
  at: number;
  serverCpu: number;
  generatorCpu: number;
  postgresCpu: Map<number, number>;
  machine: number;
  redis: RedisSnapshot;
  pg: PgCounts;
  metrics: Map<string, number> | undefined;
}

export interface Context {
  repoRoot: string;
  options: BenchOptions;
  bodiesFile: string;
  redis: RedisInfo;
  relay: PgStatementCounter;
  workDir: string;
  /** The first key's request, the one the hot runs send. */
  hotBody: Buffer;
  h2loadPath: string | undefined;
  /** The service's KEY_CACHE_TTL in seconds. */
  keyCacheTtlS: number;
  /** Runs that may still be measured again, over the whole benchmark, after other work disturbed them. */
  retries: number;
  /** Seconds left to spend, over the whole benchmark, waiting for other work to pass. */
  quietBudget: { remainingS: number };
  /** When the last pass over every key started (performance.now() in s) and how long it took. */
  lastPrewarm?: { startedAtS: number; seconds: number };
}

async function snapshot(ctx: Context, target: Target, generatorPid: number): Promise<Snapshot> {
  // The cheap synchronous reads first, so they sit as close as possible to the generator's own mark.
  const at = performance.now();
  const serverCpu = cpuSeconds(target.pid);
  const generatorCpu = cpuSeconds(generatorPid);
  const postgresCpu = cpuSecondsByPid("postgres");
  const machine = machineBusySeconds();
  const pg = ctx.relay.snapshot();
  const [redis, metrics] = await Promise.all([
    ctx.redis.snapshot(),
    target.httpPort === undefined ? Promise.resolve(undefined) : scrapeMetrics(target.httpPort),
  ]);
  return { at, serverCpu, generatorCpu, postgresCpu, machine, redis, pg, metrics };
}

function serviceCounters(before: Map<string, number>, after: Map<string, number>): ServiceCounters {
  const byLabel = (family: string, label: string) => {
    const out: Record<string, number> = {};
    for (const [series, n] of counterDelta(before, after, family)) {
      const value = new RegExp(`${label}="([^"]*)"`).exec(series)?.[1] ?? series;
      out[value] = (out[value] ?? 0) + n;
    }
    return out;
  };
  const hasLookupMetric = [...after.keys()].some((s) => s.startsWith("key_store_queries_total"));
  return {
    keyStoreQueries: hasLookupMetric
      ? sum(counterDelta(before, after, "key_store_queries_total"))
      : undefined,
    cache: byLabel("key_cache_lookups_total", "result"),
    checks: Object.fromEntries(
      [...counterDelta(before, after, "authz_checks_total")].map(([series, n]) => [series, n]),
    ),
    dependencyErrors: sum(counterDelta(before, after, "authz_dependency_errors_total")),
    eventLoopDelay: eventLoopDelay(after),
  };
}

/**
 * measure(), and once more (while the benchmark-wide retry budget lasts) if other processes took a
 * noticeable share of the machine during the window; the quieter of the two windows is kept.
 */
export async function measureQuietly(ctx: Context, target: Target, spec: RunSpec): Promise<RunRecord> {
  const first = await measure(ctx, target, spec);
  if (!isNoisy(first) || ctx.retries <= 0) return first;
  ctx.retries--;
  const share = otherCpu(first) / first.windowS;
  log(`  other processes used ${share.toFixed(2)} cores during the window: measuring again`);
  const again = await measure(ctx, target, spec);
  const quieter = otherCpu(again) / again.windowS < share ? again : first;
  return { ...quieter, discarded: 1 };
}

function eventLoopDelay(after: Map<string, number>): ServiceCounters["eventLoopDelay"] {
  const p99 = after.get("nodejs_eventloop_lag_p99_seconds");
  const max = after.get("nodejs_eventloop_lag_max_seconds");
  return p99 === undefined || max === undefined ? undefined : { p99Ms: p99 * 1000, maxMs: max * 1000 };
}

export async function measure(ctx: Context, target: Target, spec: RunSpec): Promise<RunRecord> {
  const { options } = ctx;
  const config: GeneratorConfig = {
    port: target.grpcPort,
    bodiesFile: ctx.bodiesFile,
    keys: spec.keys,
    mode: spec.mode,
    concurrency: spec.mode === "closed" ? options.concurrency : options.pacedCap,
    connections: options.connections,
    rate: spec.rate,
    warmupS: options.warmupS,
    durationS: options.durationS,
  };
  log(`\n▶ ${runLabel(spec)}: ${options.warmupS} s warm-up + ${options.durationS} s measured`);
  await waitForQuiet(ctx.quietBudget, log);
  const prewarm =
    spec.target === "service" && spec.keys === "spread" ? await prewarmKeys(ctx, target) : undefined;
  let before: Snapshot | undefined;
  let after: Snapshot | undefined;
  const hooks = {
    onMeasuring: async (pid: number) => {
      before = await snapshot(ctx, target, pid);
    },
    onWindowEnd: async (pid: number) => {
      after = await snapshot(ctx, target, pid);
    },
  };
  const generator =
    spec.generator === "h2load"
      ? await runH2load(
          {
            path: ctx.h2loadPath ?? "h2load",
            port: target.grpcPort,
            body: ctx.hotBody,
            workDir: ctx.workDir,
            concurrency: options.concurrency,
            connections: options.connections,
            warmupS: options.warmupS,
            durationS: options.durationS,
          },
          hooks,
        )
      : await runGenerator(ctx.repoRoot, config, hooks);
  if (!before || !after) throw new Error(`${runLabel(spec)}: the generator ended before its measured window`);
  const { port: _port, bodiesFile: _bodies, ...shown } = config;
  const run: RunRecord = {
    spec,
    discarded: 0,
    prewarm,
    config: shown,
    generator,
    windowS: (after.at - before.at) / 1000,
    cpu: {
      generator: after.generatorCpu - before.generatorCpu,
      server: after.serverCpu - before.serverCpu,
      redis: after.redis.cpuS - before.redis.cpuS,
      postgres: cpuSecondsBetween(before.postgresCpu, after.postgresCpu),
      machine: after.machine - before.machine,
    },
    redis: redisDelta(before.redis, after.redis),
    pg: spec.target === "service" ? pgDelta(before.pg, after.pg) : undefined,
    service: before.metrics && after.metrics ? serviceCounters(before.metrics, after.metrics) : undefined,
  };
  printRun(run);
  return run;
}

/**
 * One pass over every key at modest concurrency before a spread run: loads what is not cached and
 * refreshes what went stale (KEY_CACHE_TTL), so the measured window sees the cache's steady state
 * rather than a cold start. A cold cache under full load is a different question (see the report).
 */
async function prewarmKeys(ctx: Context, target: Target): Promise<PrewarmRecord> {
  // Keys loaded by an earlier pass turn stale KEY_CACHE_TTL later and are refreshed on their next
  // use. If that could happen inside the coming window, wait (briefly) until every key of the last
  // pass is stale, so this pass does the refreshing; a longer wait is not worth it, and the
  // refreshes then show in the window's Postgres counts.
  const last = ctx.lastPrewarm;
  const ttlS = ctx.keyCacheTtlS;
  if (last) {
    const nowS = performance.now() / 1000;
    const firstStaleS = last.startedAtS + ttlS;
    const allStaleS = last.startedAtS + last.seconds + ttlS;
    const windowEndS = nowS + last.seconds + ctx.options.warmupS + ctx.options.durationS;
    if (nowS < allStaleS && windowEndS > firstStaleS) {
      const waitS = allStaleS - nowS + 1;
      if (waitS <= MAX_STALE_WAIT_S) {
        log(
          `  waiting ${waitS.toFixed(0)} s for the keys cached by the last pass to go stale (KEY_CACHE_TTL)`,
        );
        await sleep(waitS * 1000);
      } else {
        log(
          `  cached keys go stale (KEY_CACHE_TTL ${ttlS} s) during this run: their refreshes land in the window`,
        );
      }
    }
  }
  const before = ctx.relay.snapshot();
  const startedAt = performance.now();
  const result = await runGenerator(
    ctx.repoRoot,
    {
      port: target.grpcPort,
      bodiesFile: ctx.bodiesFile,
      keys: "spread",
      mode: "closed",
      concurrency: PREWARM_CONCURRENCY,
      connections: ctx.options.connections,
      rate: 0,
      warmupS: 0,
      durationS: PREWARM_MAX_S,
      maxRequests: ctx.options.keys,
    },
    { onMeasuring: async () => {}, onWindowEnd: async () => {} },
  );
  ctx.lastPrewarm = { startedAtS: startedAt / 1000, seconds: (performance.now() - startedAt) / 1000 };
  // Refreshes of stale entries finish behind the answers; let them land before the run starts.
  await sleep(500);
  const record: PrewarmRecord = {
    checks: result.totalOk,
    seconds: (performance.now() - startedAt) / 1000,
    concurrency: PREWARM_CONCURRENCY,
    failures: result.failures,
    statements: pgDelta(before, ctx.relay.snapshot()).statements,
  };
  log(
    `  prewarm: ${record.checks} checks over every key in ${record.seconds.toFixed(1)} s, ` +
      `${failureCount(record.failures)} failures, Postgres ${JSON.stringify(record.statements)}`,
  );
  return record;
}

function printRun(run: RunRecord): void {
  const g = run.generator;
  const l = g.latency;
  const f = g.failures;
  const checks = g.checks;
  log(
    `  ${Math.round(g.checksPerS)} checks/s; p50 ${(l.p50Us / 1000).toFixed(2)} ms, p99 ${(l.p99Us / 1000).toFixed(2)} ms, ` +
      `p99.9 ${(l.p999Us / 1000).toFixed(2)} ms` +
      (g.latencyFromSchedule
        ? ` (p99 from schedule ${(g.latencyFromSchedule.p99Us / 1000).toFixed(2)} ms)`
        : ""),
  );
  log(
    `  CPU s: generator ${run.cpu.generator.toFixed(2)}, server ${run.cpu.server.toFixed(2)}, ` +
      `redis ${run.cpu.redis.toFixed(2)}, postgres ${run.cpu.postgres.toFixed(2)}, machine ${run.cpu.machine.toFixed(2)} over ${run.windowS.toFixed(1)} s`,
  );
  log(
    `  per check: redis ${(run.redis.commands / checks).toFixed(3)} commands, ${(run.redis.reads / checks).toFixed(3)} reads` +
      (run.pg ? `; postgres ${(totalStatements(run.pg) / checks).toFixed(4)} statements` : "") +
      (run.service?.keyStoreQueries !== undefined ? `, ${run.service.keyStoreQueries} key lookups` : "") +
      (run.service?.eventLoopDelay
        ? `; service event-loop delay p99 ${run.service.eventLoopDelay.p99Ms.toFixed(1)} ms, max ${run.service.eventLoopDelay.maxMs.toFixed(1)} ms`
        : ""),
  );
  log(
    `  failures: http ${f.http}, grpc ${f.grpc}, denied ${f.denied}, transport ${f.transport}, skipped ${f.skipped}, ` +
      `decode mismatch ${f.decodeMismatch}; ${g.sampledDecodes} sampled full decodes` +
      (isValid(run)
        ? ""
        : fellBehind(run)
          ? "  ← FELL BEHIND (the rate was not sustained)"
          : "  ← NOT A VALID FIGURE"),
  );
  for (const example of f.examples) log(`    e.g. ${example}`);
  const outside = g.outsideWindowFailures;
  if (failureCount(outside) > 0) {
    log(`  outside the window (warm-up, drain): ${failureCount(outside)} failures`);
    for (const example of outside.examples) log(`    e.g. ${example}`);
  }
}

/** A short paced run under MONITOR, to split the service's round trips from in-script commands. */
export async function redisSample(
  ctx: Context,
  service: ServiceTarget,
  keys: RunSpec["keys"],
  redisUrl: URL,
): Promise<RedisSample> {
  const ports = new Set(tcpLocalPortsTo(service.pid, Number(redisUrl.port || 6379)).map(String));
  if (ports.size === 0) throw new Error("found no Redis connection of the service in /proc");
  const monitor = await RedisMonitor.start(redisUrl.hostname, Number(redisUrl.port || 6379), (address) =>
    ports.has(address.slice(address.lastIndexOf(":") + 1)),
  );
  log(`\n▶ Redis MONITOR sample: ${keys} keys, paced ${MONITOR_SAMPLE_RATE}/s for ${MONITOR_SAMPLE_S} s`);
  let result: Awaited<ReturnType<typeof runGenerator>>;
  let counts: RedisSample["counts"];
  try {
    result = await runGenerator(
      ctx.repoRoot,
      {
        port: service.grpcPort,
        bodiesFile: ctx.bodiesFile,
        keys,
        mode: "paced",
        concurrency: ctx.options.pacedCap,
        connections: ctx.options.connections,
        rate: MONITOR_SAMPLE_RATE,
        // Measures from the first request, so every check MONITOR saw is counted.
        warmupS: 0,
        durationS: MONITOR_SAMPLE_S,
      },
      { onMeasuring: async () => {}, onWindowEnd: async () => {} },
    );
    // Commands answered just after the last check still belong to it.
    await sleep(200);
  } finally {
    counts = monitor.stop();
  }
  const failures = failureCount(result.failures) + failureCount(result.outsideWindowFailures);
  if (failures > 0) {
    throw new Error(
      `the MONITOR sample had failures: ${[...result.failures.examples, ...result.outsideWindowFailures.examples].join("; ")}`,
    );
  }
  // Every answered check, the drain after the window included: MONITOR saw all of their commands.
  const sample: RedisSample = { keys, rate: MONITOR_SAMPLE_RATE, checks: result.totalOk, counts };
  log(
    `  ${result.totalOk} checks; service round trips/check ${(counts.serviceRoundTrips / result.totalOk).toFixed(3)}; ` +
      `service commands ${JSON.stringify(counts.service)}; in scripts ${JSON.stringify(counts.scripts)}; others ${counts.others}`,
  );
  return sample;
}

export async function probeTarget(name: string, port: number, bodies: Buffer[]): Promise<void> {
  const picks = [
    0,
    ...Array.from({ length: SPREAD_PROBES }, (_, i) => Math.floor((i * bodies.length) / SPREAD_PROBES)),
  ];
  for (const index of new Set(picks)) {
    const body = bodies[index];
    if (!body) continue;
    const result = await probeCheck(port, body);
    if (!isAllowed(result)) {
      throw new Error(`${name} did not allow seeded key #${index}: ${describeProbe(result)}`);
    }
  }
}
