/**
 * `pnpm soak`: api-key-service and billing-sidecar under mixed traffic at about half of capacity for
 * SOAK_DURATION_S (after a warm-up), reporting errors, resident memory at start and end, and latency
 * per minute. Rewrites docs/SOAK.md. Exits non-zero only when the soak could not run.
 */

import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { connectAndDescribe } from "@gateway/bench/authz";
import { BenchPostgres, lagAt, startGenerator } from "@gateway/bench/billing";
import {
  type Cleanup,
  GiveUp,
  log,
  memoryOf,
  readFlags,
  runAsProcess,
  scrapeMetrics,
  sleep,
  waitFor,
} from "@gateway/harness";
import { AdminApi } from "./admin-api.js";
import { checkBilling } from "./billing-check.js";
import { planWindows, runCheckWindows } from "./check-windows.js";
import { KeyChurn } from "./key-churn.js";
import { byLabel, recordServiceCounters } from "./metrics.js";
import { readSoakOptions } from "./options.js";
import { recordLogLines } from "./process-logs.js";
import { renderReport } from "./report.js";
import { errorRows, targetRows, windowRows } from "./report-tables.js";
import { ErrorLog, type SoakReport } from "./results.js";
import { machineBusyCores, Sampler, summarizeMemory } from "./sampler.js";
import { startStack } from "./setup.js";

const ROOT = resolve(import.meta.dirname, "..");

readFlags(
  `pnpm soak

A long run of every kind of traffic at once (paced Checks, REST key changes, access-log entries into
billing-sidecar with the Stripe emulator), watching latency per minute, errors, memory and billing;
writes docs/SOAK.md (SOAK_OUTPUT). Settings: SOAK_DURATION_S, SOAK_WARMUP_S, SOAK_CHECK_RATE,
SOAK_KEYS, SOAK_CHANGE_RATE, SOAK_ALS_RATE, SOAK_ALS_STREAMS, BENCH_PG_URL, BENCH_REDIS_URL.`,
  {},
);
/** Between the access log starting and the first Check window: time to spawn that window's generator. */
const LEAD_S = 6;

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function main(cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  const wallStart = performance.now();
  const options = readSoakOptions(ROOT);
  log(`soak: ${options.warmupS} s warm-up + ${options.durationS} s measured → ${options.output}`);
  const { redis, machine } = await connectAndDescribe(cleanup, options);

  const stack = await startStack(ROOT, options, redis, cleanup);
  const { service, sidecar, emulator, db } = stack;
  const sampleDb = await BenchPostgres.connect(stack.databaseUrl);
  cleanup.add("close the sampler's Postgres connection", () => sampleDb.close());
  const sampler = new Sampler(
    {
      service: { pid: service.pid, httpPort: service.httpPort },
      sidecar: { pid: sidecar.pid, httpPort: sidecar.httpPort },
    },
    sampleDb,
  );
  cleanup.add("stop sampling", () => sampler.stop());
  await sampler.sample(); // idle, before any traffic

  log(
    `starting traffic: ${options.checkRate}/s Checks, ${options.changeRate}/s key changes, ${options.alsRate}/s access-log entries`,
  );
  const als = startGenerator(
    ROOT,
    {
      port: sidecar.alsPort,
      streams: options.alsStreams,
      rate: options.alsRate,
      warmupS: options.warmupS,
      durationS: options.durationS + LEAD_S,
      keys: 1_000,
      customers: 100,
      batchBytes: 16_384,
      templates: 64,
      seed: 4242,
    },
    { measuring: () => {}, windowEnd: () => {} },
  );
  let alsFailure: Error | undefined;
  const alsResult = als.result.catch((err: Error) => {
    alsFailure = err;
    return undefined;
  });
  // Its first progress report comes once every stream is open and sending.
  await waitFor("the access-log streams to open", 60_000, async () => {
    if (alsFailure) throw new GiveUp(alsFailure.message);
    return als.timeline.length > 0 ? true : undefined;
  });
  const t0 = Date.now() + LEAD_S * 1000;
  const measuredFrom = t0 + options.warmupS * 1000;
  const measuredTo = measuredFrom + options.durationS * 1000;
  sampler.start(t0, options.sampleS * 1000, measuredTo, [measuredFrom, measuredTo]);
  // The service's counters before the traffic and at the end of the warm-up, to split its errors.
  const metricsBefore = await scrapeMetrics(service.httpPort);
  const metricsAtWarm = new Promise<Map<string, number>>((done) => {
    setTimeout(
      () => done(scrapeMetrics(service.httpPort).catch(() => metricsBefore)),
      measuredFrom - Date.now(),
    );
  });

  const errors = new ErrorLog(measuredFrom);
  const harnessErrors: string[] = [];
  const traffic = {
    repoRoot: ROOT,
    grpcPort: service.grpcPort,
    bodiesFile: stack.bodiesFile,
    rate: options.checkRate,
    t0,
    warmupS: options.warmupS,
    durationS: options.durationS,
  };
  const windows = planWindows(traffic);
  const api = new AdminApi(`http://127.0.0.1:${service.httpPort}`, service.adminToken);
  const [, churn, alsSent] = await Promise.all([
    runCheckWindows(traffic, windows, errors, () => isRunning(service.pid), harnessErrors),
    new KeyChurn(api, service.grpcPort, errors).run(t0, measuredTo, options.changeRate),
    alsResult,
  ]);
  if (alsFailure) errors.add("billing: the access-log streams failed", alsFailure.message);
  await sleep(Math.max(0, measuredTo - Date.now()));
  await sampler.stop();
  log("traffic over");

  const hwm = { service: memoryOf(service.pid)?.hwmKiB ?? 0, sidecar: memoryOf(sidecar.pid)?.hwmKiB ?? 0 };
  if (!isRunning(service.pid)) errors.add("api-key-service exited", service.recentOutput());
  const metricsAfter = await scrapeMetrics(service.httpPort).catch(() => new Map<string, number>());
  const checkDecisions = byLabel(metricsAfter, "authz_checks_total", ["outcome", "reason"], metricsBefore);
  recordServiceCounters(errors, [
    { from: metricsBefore, to: await metricsAtWarm, at: t0 },
    { from: await metricsAtWarm, to: metricsAfter, at: measuredFrom },
  ]);

  log("checking billing…");
  const billing = await checkBilling({ db, sidecar, emulator, als: alsSent, errors, log });
  recordLogLines(errors, "api-key-service", service.logLines);
  recordLogLines(errors, "billing-sidecar", sidecar.logLines);

  const times = { t0, measuredFrom, measuredTo };
  const ingestLags = sampler.samples.flatMap((s) =>
    s.at >= t0 && s.at <= measuredTo && s.usageRequests !== undefined
      ? [{ at: s.at, lagS: lagAt(als.timeline, { at: s.at, requests: s.usageRequests }) }]
      : [],
  );
  const report: SoakReport = {
    startedAt,
    wallS: (performance.now() - wallStart) / 1000,
    machine,
    options,
    seedS: stack.seedS,
    windows,
    samples: sampler.samples,
    ingestLags,
    t0,
    measuredFrom,
    measuredTo,
    memory: {
      service: summarizeMemory(sampler.samples, "service", times, hwm.service),
      sidecar: summarizeMemory(sampler.samples, "sidecar", times, hwm.sidecar),
    },
    machineBusyCores: machineBusyCores(sampler.samples, measuredFrom, measuredTo),
    churn,
    billing,
    checkDecisions,
    errors,
    harnessErrors,
    serviceSettings: { keyCacheTtlS: service.settings.keyCacheTtlS },
    sidecarSettings: {
      flushIntervalMs: sidecar.config.USAGE_FLUSH_INTERVAL,
      stripeWindowMs: sidecar.config.STRIPE_WINDOW,
      stripeSettleMs: sidecar.config.STRIPE_SETTLE,
      dedupeEntries: sidecar.config.DEDUPE_WINDOW_ENTRIES,
    },
  };
  writeFileSync(options.output, renderReport(report));
  const targets = targetRows(report);
  log(
    [
      "",
      ...windowRows(report),
      "",
      ...errorRows(report),
      "",
      "| target | goal | measured | result |",
      "| --- | --- | --- | --- |",
      ...targets.rows,
    ].join("\n"),
  );
  log(`\nwrote ${options.output}: ${targets.allPass ? "all targets met" : "some targets were missed"}`);
  for (const error of harnessErrors) log(`harness error: ${error}`);
  return harnessErrors.length > 0 ? 1 : 0;
}

await runAsProcess("soak", main, log);
