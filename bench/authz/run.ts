/**
 * `pnpm bench:authz`: benchmarks the ext_authz Check RPC of api-key-service against a no-op ceiling
 * and a floor, and rewrites docs/PERFORMANCE.md. See report.ts and tail.ts for what is measured and how.
 */

import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import {
  type Cleanup,
  cpuSecondsBetween,
  cpuSecondsByPid,
  integerSetting,
  KDAMOND,
  log,
  readFlags,
  runAsProcess,
  sleep,
} from "@gateway/harness";
import { checkRequestFor, encodeCheckRequest, writeBodies } from "./check-request.js";
import { measureColdStart } from "./cold-start.js";
import { committedTransactions, putUsersOnQuotaPlan, seedKeys } from "./database.js";
import { startFloor } from "./floor.js";
import { ensureH2load, ensureNghttp2Tool, toolVersion } from "./h2load.js";
import { startNoopServer, type Target } from "./launch.js";
import { type Context, measureQuietly, probeTarget, redisSample } from "./measure.js";
import { readOptions } from "./options.js";
import { PgStatementCounter, totalStatements } from "./pg-counter.js";
import { isComparisonOnly, renderReport, runLabel, targetSummary } from "./report.js";
import {
  type BenchReport,
  fellBehind,
  isValid,
  type RedisSample,
  type RunRecord,
  type RunSpec,
} from "./results.js";
import type { ServiceTarget } from "./service.js";
import { connectAndDescribe, seedBenchDatabase, startBenchService } from "./setup.js";
import { measureTail, type TailContext } from "./tail.js";
import { renderTailSection, TAIL_SECTION, tailVerdicts } from "./tail-report.js";

const ROOT = resolve(import.meta.dirname, "../..");
const KEY_PREFIX = "gw";
/** The quota comparison's users, and what each of its checks costs (context_extensions.cost). */
const QUOTA_USER_PREFIX = "bench_quota_user_";
const QUOTA_COST = "3";
/**
 * The order of the quota comparison's runs: ABBA then BAAB, so each side has as many early runs as
 * late ones. One ABBA was not enough on a shared machine whose speed moved by a third between two
 * runs of the same kind.
 */
const QUOTA_ORDER = ["plain", "quota", "quota", "plain", "quota", "plain", "plain", "quota"] as const;
/** At most this long, over the whole benchmark, waiting for a shared machine to quiet down. */
const QUIET_WAIT_BUDGET_S = 45;
/** At most this many runs measured again because other work disturbed their window. */
const NOISY_RETRIES = 2;

const HELP = `pnpm bench:authz [--only tail|cold-start]

Benchmarks the ext_authz Check of api-key-service against the local Postgres and Redis and rewrites
docs/PERFORMANCE.md (BENCH_OUTPUT). Settings: BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_CONCURRENCY,
BENCH_CONNECTIONS, BENCH_KEYS, BENCH_PG_URL, BENCH_REDIS_URL, BENCH_H2LOAD=0 (no h2load runs),
BENCH_SERVICE_NODE_ARGS.

  --only tail   only the tail against the floor (h2load paced at 1,000, 5,000 and 12,000/s and
                closed loop against the service, the no-op servers and nghttpd), about two
                minutes; rewrites that section of the file alone
  --only cold-start
                a replica started under paced load (BENCH_COLD_RATE, default 10,000/s) over every
                key, with and without KEY_CACHE_PREWARM, twice each; prints, writes no file`;

const flags = readFlags(HELP, { only: ["tail", "cold-start"] });

async function main(cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  const t0 = performance.now();
  const kdamondBefore = cpuSecondsByPid(KDAMOND);
  const options = readOptions(ROOT);
  const redisUrl = new URL(options.redisUrl);
  const pgUrl = new URL(options.pgUrl);
  log(`ext_authz Check benchmark → ${options.output}`);

  const { redis, machine } = await connectAndDescribe(cleanup, options);
  const database = await seedBenchDatabase(cleanup, options.pgUrl, options.keys, KEY_PREFIX);
  const { keys, seedS } = database;
  const frames = keys.map((key, i) => encodeCheckRequest(checkRequestFor(key, i)));
  const dir = cleanup.tempDir("bench-authz-");
  const bodiesFile = join(dir, "bodies.bin");
  writeBodies(bodiesFile, frames);
  if (flags.only === "cold-start") {
    await measureColdStart(cleanup, {
      repoRoot: ROOT,
      redis,
      redisUrl: options.redisUrl,
      databaseUrl: database.url,
      bodiesFile,
      keyPrefix: KEY_PREFIX,
      rate: integerSetting("BENCH_COLD_RATE", 10_000, 1, 100_000),
    });
    return 0;
  }
  // As many keys again, of users on a plan with a monthly quota, sent on a route of cost 3.
  const quotaKeys = await seedKeys(database.url, options.keys, KEY_PREFIX, QUOTA_USER_PREFIX);
  await putUsersOnQuotaPlan(database.url, QUOTA_USER_PREFIX);
  const quotaFrames = quotaKeys.map((key, i) =>
    encodeCheckRequest(checkRequestFor(key, i, { cost: QUOTA_COST })),
  );
  const quotaBodiesFile = join(dir, "quota-bodies.bin");
  writeBodies(quotaBodiesFile, quotaFrames);

  const relay = new PgStatementCounter(pgUrl.hostname, Number(pgUrl.port || 5432));
  const relayPort = await relay.listen();
  cleanup.add("close the Postgres relay", () => relay.close());
  const h2load = process.env.BENCH_H2LOAD === "0" ? { note: "skipped (BENCH_H2LOAD=0)" } : ensureH2load(log);
  if (!h2load.path) log(`h2load cross-check skipped: ${h2load.note}`);
  const ctx: Context = {
    repoRoot: ROOT,
    options,
    bodiesFile,
    redis,
    relay,
    workDir: dir,
    hotBody: frames[0] as Buffer,
    h2loadPath: h2load.path,
    quietBudget: { remainingS: QUIET_WAIT_BUDGET_S },
    retries: NOISY_RETRIES,
    keyCacheTtlS: 0,
  };

  const serviceUrl = new URL(database.url);
  serviceUrl.host = `127.0.0.1:${relayPort}`;
  const service = await startBenchService(cleanup, redis, ROOT, {
    databaseUrl: serviceUrl.toString(),
    redisUrl: options.redisUrl,
    keyPrefix: KEY_PREFIX,
  });
  log(`  pid ${service.pid}, http ${service.httpPort}, grpc ${service.grpcPort}`);
  ctx.keyCacheTtlS = service.settings.keyCacheTtlS;
  try {
    await probeTarget("api-key-service", service.grpcPort, frames);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/ECONNREFUSED/.test(message)) {
      throw new Error(
        `api-key-service is up (HTTP /ready answers) but nothing accepts gRPC on GRPC_PORT ${service.grpcPort}: ` +
          `this version of the service has no ext_authz gRPC server yet, so the service runs cannot be measured.\n${service.recentOutput()}`,
      );
    }
    throw err;
  }

  log("starting the no-op ceiling server…");
  const noop = await startNoopServer(ROOT, "grpc-js");
  cleanup.add("stop the no-op server", () => noop.stop());
  await probeTarget("the no-op server", noop.grpcPort, frames);
  log(`  pid ${noop.pid}, grpc ${noop.grpcPort}`);

  const ensureAlive = () => {
    if (!isRunning(service.pid))
      throw new Error(`api-key-service exited during the runs:\n${service.recentOutput()}`);
  };
  const tail = await prepareTail(cleanup, service, noop, dir, frames[0] as Buffer, redisUrl);
  if (flags.only === "tail") {
    if (!tail)
      throw new Error("the tail runs need h2load and nghttpd (Debian nghttp2-client, nghttp2-server)");
    const ok = await runTailSection(tail, machine, startedAt, options.output);
    ensureAlive();
    return ok ? 0 : 1;
  }

  const runs: RunRecord[] = [];
  const targetOf = (spec: RunSpec): Target => (spec.target === "service" ? service : noop);
  // Service then ceiling for each load, so slow drift on a shared machine hits both alike. Spread
  // first and paced last keeps their passes over the keys far apart (see prewarmKeys).
  for (const keys of ["spread", "hot"] as const) {
    for (const target of ["service", "no-op"] as const) {
      const spec: RunSpec = { target, generator: "bench", keys, mode: "closed", rate: 0 };
      runs.push(await measureQuietly(ctx, targetOf(spec), spec));
      ensureAlive();
    }
  }
  // The quota comparison, in the same service process: every key on a plan with a monthly quota and
  // a cost of 3 against the usual keys, alternated (QUOTA_ORDER) so that a drift of the shared
  // machine's speed over the runs weighs on both sides alike.
  const quotaCtx: Context = { ...ctx, bodiesFile: quotaBodiesFile, hotBody: quotaFrames[0] as Buffer };
  delete quotaCtx.lastPrewarm;
  for (const variant of QUOTA_ORDER) {
    const spec: RunSpec = {
      target: "service",
      generator: "bench",
      keys: "spread",
      mode: "closed",
      rate: 0,
      variant,
    };
    runs.push(await measureQuietly(variant === "quota" ? quotaCtx : ctx, service, spec));
    ensureAlive();
  }
  // Half the most the service answered over the same spread keys: a hot key's checks share Redis
  // calls (redis-limiter.ts) and go faster, so its rate would overload the spread paced run.
  const maxRate = Math.max(
    ...runs
      .filter(
        (r) =>
          r.spec.target === "service" &&
          r.spec.generator === "bench" &&
          r.spec.keys === "spread" &&
          !r.spec.variant &&
          isValid(r),
      )
      .map((r) => r.generator.checksPerS),
    0,
  );
  if (maxRate > 0) {
    const rate = Math.max(1, Math.round(maxRate / 2));
    for (const target of ["service", "no-op"] as const) {
      const spec: RunSpec = { target, generator: "bench", keys: "spread", mode: "paced", rate };
      runs.push(await measureQuietly(ctx, targetOf(spec), spec));
      ensureAlive();
    }
  } else {
    log("no valid closed-loop service run, so no paced run");
  }

  if (ctx.h2loadPath) {
    for (const target of ["service", "no-op"] as const) {
      const spec: RunSpec = { target, generator: "h2load", keys: "hot", mode: "closed", rate: 0 };
      runs.push(await measureQuietly(ctx, targetOf(spec), spec));
      ensureAlive();
    }
  }

  const tailRuns = tail ? await measureTail(tail.ctx, tail.targets) : undefined;
  ensureAlive();

  const redisSamples: RedisSample[] = [];
  for (const keys of ["hot", "spread"] as const)
    redisSamples.push(await redisSample(ctx, service, keys, redisUrl));
  redisSamples.push({ ...(await redisSample(quotaCtx, service, "spread", redisUrl)), variant: "quota" });

  // Backends report their last statistics as they exit, so read pg_stat_database after the service stops.
  await service.stop();
  await sleep(500);
  const pgTotals = {
    statements: totalStatements(relay.snapshot()),
    xactCommit: await committedTransactions(options.pgUrl, database.name),
  };

  const report: BenchReport = {
    startedAt,
    wallS: (performance.now() - t0) / 1000,
    machine,
    options,
    seedS,
    runs,
    redisSamples,
    pgTotals,
    h2load: { note: h2load.note, version: h2load.path ? toolVersion(h2load.path) : undefined },
    serviceSettings: service.settings,
    quietWait: { waitedS: QUIET_WAIT_BUDGET_S - ctx.quietBudget.remainingS, budgetS: QUIET_WAIT_BUDGET_S },
    retries: { used: NOISY_RETRIES - ctx.retries, budget: NOISY_RETRIES },
    kdamondCpuS: cpuSecondsBetween(kdamondBefore, cpuSecondsByPid(KDAMOND)),
  };
  writeFileSync(options.output, renderReport(report));
  if (tail && tailRuns) writeTail(tail, tailRuns, machine, startedAt, options.output);
  else log("no tail runs (h2load or nghttpd missing): the tail section of the file is left as it was");
  log(`\nwrote ${options.output}`);
  const summary = targetSummary(report);
  log(["", "| target | goal | measured | result |", ...summary.rows].join("\n"));
  for (const run of runs.filter((r) => !isValid(r) && isComparisonOnly(r)))
    log(
      `${runLabel(run.spec)}: the no-op server did not sustain this rate (a comparison only, not a failure)`,
    );
  for (const run of runs.filter((r) => fellBehind(r) && !isComparisonOnly(r)))
    log(`${runLabel(run.spec)}: fell behind its schedule (a measured outcome, judged in the targets)`);
  const invalid = runs.filter((r) => !isValid(r) && !isComparisonOnly(r) && !fellBehind(r));
  if (invalid.length > 0) {
    log(
      `${invalid.length} run(s) had failures and are not valid figures: ${invalid.map((r) => runLabel(r.spec)).join("; ")}`,
    );
    return 1;
  }
  log(summary.allPass ? "all targets met" : "some targets were not met");
  return 0;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Tail {
  ctx: TailContext;
  targets: Parameters<typeof measureTail>[1];
  versions: { h2load: string; nghttpd: string };
}

/** Our own no-op H2GrpcServer and the nghttpd floor beside the service and the grpc-js no-op. */
async function prepareTail(
  cleanup: Cleanup,
  service: ServiceTarget,
  grpcJsNoop: Target,
  workDir: string,
  body: Buffer,
  redisUrl: URL,
): Promise<Tail | undefined> {
  const h2load = ensureH2load(log);
  const nghttpd = ensureNghttp2Tool("nghttpd", log);
  if (!h2load.path || !nghttpd.path) {
    log(`tail runs skipped: ${h2load.path ? nghttpd.note : h2load.note}`);
    return undefined;
  }
  log("starting the no-op H2GrpcServers (alone, and with a Redis PING per call) and the nghttpd floor…");
  const h2Noop = await startNoopServer(ROOT, "h2");
  cleanup.add("stop the no-op H2GrpcServer", () => h2Noop.stop());
  await probeTarget("the no-op H2GrpcServer", h2Noop.grpcPort, [body]);
  const redisAddress = `${redisUrl.hostname}:${redisUrl.port || 6379}`;
  const h2RedisNoop = await startNoopServer(ROOT, "h2-redis", redisAddress);
  cleanup.add("stop the no-op H2GrpcServer with Redis", () => h2RedisNoop.stop());
  await probeTarget("the no-op H2GrpcServer with Redis", h2RedisNoop.grpcPort, [body]);
  const floor = await startFloor(nghttpd.path, workDir);
  cleanup.add("stop nghttpd", () => floor.stop());
  await probeTarget("the nghttpd floor", floor.grpcPort, [body]);
  log(
    `  h2 no-op pid ${h2Noop.pid}, grpc ${h2Noop.grpcPort}; with Redis pid ${h2RedisNoop.pid}, ` +
      `grpc ${h2RedisNoop.grpcPort}; nghttpd pid ${floor.pid}, port ${floor.grpcPort}`,
  );
  return {
    ctx: { h2loadPath: h2load.path, workDir, body, quietBudget: { remainingS: QUIET_WAIT_BUDGET_S }, log },
    targets: {
      service,
      "h2 no-op + Redis": h2RedisNoop,
      "h2 no-op": h2Noop,
      "grpc-js no-op": grpcJsNoop,
      floor,
    },
    versions: { h2load: toolVersion(h2load.path), nghttpd: toolVersion(nghttpd.path) },
  };
}

async function runTailSection(
  tail: Tail,
  machine: BenchReport["machine"],
  startedAt: Date,
  output: string,
): Promise<boolean> {
  const runs = await measureTail(tail.ctx, tail.targets);
  return writeTail(tail, runs, machine, startedAt, output);
}

/** Writes the tail section and prints its verdicts; false when a run had failures. */
function writeTail(
  tail: Tail,
  runs: Awaited<ReturnType<typeof measureTail>>,
  machine: BenchReport["machine"],
  startedAt: Date,
  output: string,
): boolean {
  TAIL_SECTION.write(output, renderTailSection({ startedAt, machine, ...tail.versions, runs }));
  log(`\nwrote the tail section of ${output}`);
  for (const v of tailVerdicts(runs)) {
    const over = (us: number | undefined) => (us === undefined ? "–" : `${(us / 1000).toFixed(2)} ms`);
    log(
      `  ${v.rate}/s: service − floor p99 ${over(v.p99Over)} (≤ 1), p99.9 ${over(v.p999Over)} (≤ 5): ` +
        `${v.pass === undefined ? "no figure" : v.pass ? "pass" : "FAIL"}`,
    );
  }
  return runs.every((r) => r.checks > 0 && r.failures.http + r.failures.transport === 0);
}

await runAsProcess("bench:authz", main, log);
