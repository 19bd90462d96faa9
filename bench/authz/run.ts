/**
 * `pnpm bench:authz`: benchmarks the ext_authz Check RPC of api-key-service against a no-op ceiling
 * and rewrites docs/PERFORMANCE.md. See report.ts for what is measured and how.
 */

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import {
  BUSY_WARNING,
  type Cleanup,
  cpuSecondsBetween,
  cpuSecondsByPid,
  describeMachine,
  KDAMOND,
  log,
  runAsProcess,
  sleep,
} from "@gateway/harness";
import pg from "pg";
import { checkRequestFor, encodeCheckRequest, writeBodies } from "./check-request.js";
import {
  committedTransactions,
  createBenchDatabase,
  dropBenchDatabase,
  migrateBenchDatabase,
  putUsersOnQuotaPlan,
  seedKeys,
} from "./database.js";
import { ensureH2load, h2loadVersion } from "./h2load.js";
import { startNoopServer, type Target } from "./launch.js";
import { type Context, measureQuietly, probeTarget, redisSample } from "./measure.js";
import { readOptions } from "./options.js";
import { PgStatementCounter, totalStatements } from "./pg-counter.js";
import { RedisInfo } from "./redis-stats.js";
import { isComparisonOnly, renderReport, runLabel, targetSummary } from "./report.js";
import { type BenchReport, isValid, type RedisSample, type RunRecord, type RunSpec } from "./results.js";
import { startService } from "./service.js";

const ROOT = resolve(import.meta.dirname, "../..");
const KEY_PREFIX = "gw";
/** The quota comparison's users, and what each of its checks costs (context_extensions.cost). */
const QUOTA_USER_PREFIX = "bench_quota_user_";
const QUOTA_COST = "3";
/** At most this long, over the whole benchmark, waiting for a shared machine to quiet down. */
const QUIET_WAIT_BUDGET_S = 45;
/** At most this many runs measured again because other work disturbed their window. */
const NOISY_RETRIES = 2;

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>("SHOW server_version");
    return rows[0]?.server_version ?? "unknown";
  } finally {
    await client.end();
  }
}

async function main(cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  const t0 = performance.now();
  const kdamondBefore = cpuSecondsByPid(KDAMOND);
  const options = readOptions(ROOT);
  const redisUrl = new URL(options.redisUrl);
  const pgUrl = new URL(options.pgUrl);
  log(`ext_authz Check benchmark → ${options.output}`);

  const redis = await RedisInfo.connect(redisUrl.hostname, Number(redisUrl.port || 6379));
  cleanup.add("close the Redis stats connection", () => redis.close());
  const machine = await describeMachine(await postgresVersion(options.pgUrl), await redis.version());
  if (machine.busyBefore > BUSY_WARNING) {
    log(
      `warning: other processes were using ${machine.busyBefore.toFixed(2)} of ${machine.cpus} cores before the start; ` +
        "expect noisy figures (the report says so too)",
    );
  }

  log(`creating and seeding a bench database with ${options.keys} keys…`);
  const seedStart = performance.now();
  const database = await createBenchDatabase(options.pgUrl);
  cleanup.add(`drop database ${database.name}`, () => dropBenchDatabase(options.pgUrl, database.name));
  await migrateBenchDatabase(database.url);
  const keys = await seedKeys(database.url, options.keys, KEY_PREFIX);
  const frames = keys.map((key, i) => encodeCheckRequest(checkRequestFor(key, i)));
  const seedS = (performance.now() - seedStart) / 1000;
  const dir = mkdtempSync(join(tmpdir(), "bench-authz-"));
  cleanup.add("remove the request bodies", () => rmSync(dir, { recursive: true, force: true }));
  const bodiesFile = join(dir, "bodies.bin");
  writeBodies(bodiesFile, frames);
  log(`  ${database.name}: ${keys.length} keys in ${seedS.toFixed(1)} s`);
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

  log("starting api-key-service…");
  const serviceUrl = new URL(database.url);
  serviceUrl.host = `127.0.0.1:${relayPort}`;
  const service = await startService(ROOT, {
    databaseUrl: serviceUrl.toString(),
    redisUrl: options.redisUrl,
    keyPrefix: KEY_PREFIX,
  });
  // Undone newest first: the service stops before its keys are deleted, so it cannot write more.
  cleanup.add("delete the run's Redis keys", async () => {
    const n = await redis.deleteKeys(service.redisKeyPrefix);
    log(`deleted ${n} Redis keys under ${service.redisKeyPrefix}`);
  });
  cleanup.add("stop api-key-service", () => service.stop());
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

  const runs: RunRecord[] = [];
  const targetOf = (spec: RunSpec): Target => (spec.target === "service" ? service : noop);
  const ensureAlive = () => {
    if (!isRunning(service.pid))
      throw new Error(`api-key-service exited during the runs:\n${service.recentOutput()}`);
  };
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
  // a cost of 3, then the usual keys again, so the two usual runs bracket it.
  const quotaCtx: Context = { ...ctx, bodiesFile: quotaBodiesFile, hotBody: quotaFrames[0] as Buffer };
  delete quotaCtx.lastPrewarm;
  for (const variant of ["quota", "plain"] as const) {
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
  const maxRate = Math.max(
    ...runs
      .filter(
        (r) => r.spec.target === "service" && r.spec.generator === "bench" && !r.spec.variant && isValid(r),
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
    h2load: { note: h2load.note, version: h2load.path ? h2loadVersion(h2load.path) : undefined },
    serviceSettings: service.settings,
    quietWait: { waitedS: QUIET_WAIT_BUDGET_S - ctx.quietBudget.remainingS, budgetS: QUIET_WAIT_BUDGET_S },
    retries: { used: NOISY_RETRIES - ctx.retries, budget: NOISY_RETRIES },
    kdamondCpuS: cpuSecondsBetween(kdamondBefore, cpuSecondsByPid(KDAMOND)),
  };
  writeFileSync(options.output, renderReport(report));
  log(`\nwrote ${options.output}`);
  const summary = targetSummary(report);
  log(["", "| target | goal | measured | result |", ...summary.rows].join("\n"));
  for (const run of runs.filter((r) => !isValid(r) && isComparisonOnly(r)))
    log(
      `${runLabel(run.spec)}: the no-op server did not sustain this rate (a comparison only, not a failure)`,
    );
  const invalid = runs.filter((r) => !isValid(r) && !isComparisonOnly(r));
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

await runAsProcess("bench:authz", main, log);
