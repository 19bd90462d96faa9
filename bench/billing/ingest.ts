/** One ingest step: a fresh sidecar, the generator at one rate, Postgres watched until it holds everything. */
import {
  counterDelta,
  cpuSeconds,
  cpuSecondsBetween,
  cpuSecondsByPid,
  GiveUp,
  log,
  machineBusySeconds,
  memoryOf,
  scrapeMetrics,
  sleep,
  waitFor,
  waitForQuiet,
} from "@gateway/harness";
import type { AlsGeneratorResult } from "./generator-protocol.js";
import { summarizeLag } from "./lag.js";
import { startGenerator } from "./launch.js";
import type { BillingBenchOptions } from "./options.js";
import type { BenchPostgres } from "./postgres.js";
import type { CpuSeconds, StepRecord } from "./results.js";
import { type SidecarEnvironment, type SidecarProcess, startSidecar } from "./sidecar.js";
import { slopePerS, Watcher } from "./watcher.js";

/** After the window, how long Postgres may take to catch up before the step counts as incomplete. */
const DRAIN_TIMEOUT_MS = 30_000;
const MiB = 1024;

export interface IngestContext {
  repoRoot: string;
  options: BillingBenchOptions;
  db: BenchPostgres;
  sidecarEnv: SidecarEnvironment;
  quietBudget: { remainingS: number };
  /** Sidecar settings as it read them, filled in by the first step. */
  onSidecar?: (sidecar: SidecarProcess) => void;
}

interface Snapshot {
  at: number;
  generator: number;
  sidecar: number;
  postgres: Map<number, number>;
  orchestrator: number;
  machine: number;
  metrics: Map<string, number>;
}

function snapshotCpu(generatorPid: number, sidecarPid: number): Omit<Snapshot, "metrics"> {
  const own = process.cpuUsage();
  return {
    at: Date.now(),
    generator: cpuSeconds(generatorPid),
    sidecar: cpuSeconds(sidecarPid),
    postgres: cpuSecondsByPid("postgres"),
    orchestrator: (own.user + own.system) / 1e6,
    machine: machineBusySeconds(),
  };
}

function cpuBetween(a: Snapshot, b: Snapshot): CpuSeconds {
  return {
    generator: b.generator - a.generator,
    sidecar: b.sidecar - a.sidecar,
    postgres: cpuSecondsBetween(a.postgres, b.postgres),
    orchestrator: b.orchestrator - a.orchestrator,
    machine: b.machine - a.machine,
  };
}

function byLabel(before: Map<string, number>, after: Map<string, number>, family: string, label: string) {
  const out: Record<string, number> = {};
  for (const [series, n] of counterDelta(before, after, family)) {
    const value = new RegExp(`${label}="([^"]*)"`).exec(series)?.[1] ?? series;
    out[value] = (out[value] ?? 0) + n;
  }
  return out;
}

export async function runStep(ctx: IngestContext, rate: number): Promise<StepRecord> {
  const { options } = ctx;
  log(
    `\n▶ ${rate.toLocaleString("en-US")} entries/s: ${options.warmupS} s warm-up + ${options.durationS} s measured`,
  );
  await waitForQuiet(ctx.quietBudget, log);
  const sidecar = await startSidecar(ctx.repoRoot, ctx.sidecarEnv);
  ctx.onSidecar?.(sidecar);
  const startRss = memoryOf(sidecar.pid)?.rssKiB ?? 0;
  const errors: string[] = [];
  const logFrom = sidecar.logLines.length;
  const baseline = await ctx.db.totalRequests();
  const watcher = new Watcher(ctx.db, baseline, sidecar.pid);
  let before: Snapshot | undefined;
  let after: Snapshot | undefined;
  const snapshotWork: Promise<void>[] = [];
  const take = (set: (s: Snapshot) => void) => {
    const cpu = snapshotCpu(generator.pid, sidecar.pid);
    snapshotWork.push(
      scrapeMetrics(sidecar.httpPort).then(
        (metrics) => set({ ...cpu, metrics }),
        (err: Error) => {
          errors.push(`scraping the sidecar's /metrics failed: ${err.message}`);
        },
      ),
    );
  };
  const generator = startGenerator(
    ctx.repoRoot,
    {
      port: sidecar.alsPort,
      streams: options.streams,
      rate,
      warmupS: options.warmupS,
      durationS: options.durationS,
      keys: options.keys,
      customers: options.customers,
      batchBytes: options.batchBytes,
      templates: options.templates,
      seed: 4242,
    },
    {
      measuring: () => take((s) => (before = s)),
      windowEnd: () => take((s) => (after = s)),
    },
  );
  let result: AlsGeneratorResult;
  try {
    result = await generator.result;
  } catch (err) {
    await watcher.stop();
    await sidecar.stop();
    throw err;
  }
  await Promise.all(snapshotWork);
  if (!before || !after) throw new Error("the generator ended before its measured window");
  const windowStart = before.at;
  const windowEnd = after.at;

  // Drain: everything sent must reach Postgres.
  let drainedAt: number | undefined;
  try {
    drainedAt = await waitFor("Postgres to hold every entry sent", DRAIN_TIMEOUT_MS, async () => {
      if (!sidecar.isRunning()) throw new GiveUp(`the sidecar exited:\n${sidecar.recentOutput()}`);
      const last = watcher.samples.at(-1);
      return last && last.requests >= result.counted ? last.at : undefined;
    });
  } catch (err) {
    if (err instanceof GiveUp) errors.push(err.message);
  }
  await sleep(2 * 250);
  await watcher.stop();
  if (watcher.error) errors.push(watcher.error);
  const total = (await ctx.db.totalRequests()) - baseline;
  const final = await scrapeMetrics(sidecar.httpPort).catch(() => new Map<string, number>());
  const memory = memoryOf(sidecar.pid);
  if (!sidecar.isRunning()) errors.push(`the sidecar exited during the step:\n${sidecar.recentOutput()}`);
  await sidecar.stop();

  const entriesByResult = byLabel(new Map(), final, "als_entries_total", "result");
  const batches = byLabel(new Map(), final, "usage_batches_total", "result");
  const billed = (entriesByResult.billed ?? 0) + (entriesByResult.not_billable ?? 0);
  const skipped = (entriesByResult.no_identity ?? 0) + (entriesByResult.denied ?? 0);
  if (total > result.counted)
    errors.push(`Postgres holds ${total} requests, more than the ${result.counted} sent`);
  if ((entriesByResult.duplicate ?? 0) > 0) {
    errors.push(
      `the sidecar dropped ${entriesByResult.duplicate} entries as duplicates; every id sent was new`,
    );
  }
  if (
    billed + (entriesByResult.shed ?? 0) !== result.counted ||
    skipped !== result.entries - result.counted
  ) {
    errors.push(
      `the sidecar's als_entries_total ${JSON.stringify(entriesByResult)} does not add up to the ${result.entries} entries sent (${result.counted} usage)`,
    );
  }
  if (result.statuses.some((s) => s !== "0")) errors.push(`stream answers: ${result.statuses.join(", ")}`);

  const windowSamples = watcher.samples.filter((s) => s.at >= windowStart && s.at <= (drainedAt ?? Infinity));
  const inWindow = watcher.samples.filter((s) => s.at >= windowStart && s.at <= windowEnd);
  const windowS = (windowEnd - windowStart) / 1000;
  const peakRss = Math.max(startRss, ...watcher.memory.map((m) => m.rssKiB));
  const p99 = after.metrics.get("nodejs_eventloop_lag_p99_seconds");
  const max = after.metrics.get("nodejs_eventloop_lag_max_seconds");
  const step: StepRecord = {
    rate,
    remeasured: 0,
    generator: result,
    windowS,
    sentPerS: result.windowEntries / result.windowS,
    postgresPerS: slopePerS(inWindow),
    lag: summarizeLag(generator.timeline, windowSamples),
    drainS: drainedAt === undefined ? undefined : Math.max(0, (drainedAt - windowEnd) / 1000),
    totals: { postgres: total, counted: result.counted, entries: result.entries },
    entriesByResult,
    batches,
    bufferRowsAtEnd: after.metrics.get("usage_buffer_rows") ?? 0,
    eventLoopDelay:
      p99 === undefined || max === undefined ? undefined : { p99Ms: p99 * 1000, maxMs: max * 1000 },
    memory: {
      peakRssMiB: peakRss / MiB,
      hwmMiB: (memory?.hwmKiB ?? 0) / MiB,
      startRssMiB: startRss / MiB,
    },
    cpu: cpuBetween(before, after),
    errors,
    sidecarLog: sidecar.logLines.slice(logFrom),
  };
  printStep(step);
  return step;
}

function printStep(step: StepRecord): void {
  const f = (n: number, d = 2) => n.toFixed(d);
  const int = (n: number) => Math.round(n).toLocaleString("en-US");
  log(
    `  sent ${int(step.sentPerS)} entries/s (behind schedule at most ${f(step.generator.maxBehindS)} s, ` +
      `all streams blocked ${f(step.generator.blockedS)} s); Postgres +${int(step.postgresPerS)} requests/s`,
  );
  log(
    `  lag max ${f(step.lag.maxS)} s, p90 ${f(step.lag.p90S)} s, mean ${f(step.lag.meanS)} s over ${step.lag.samples} samples; ` +
      `drained ${step.drainS === undefined ? "never" : `${f(step.drainS)} s`} after the window; ` +
      `Postgres ${int(step.totals.postgres)} of ${int(step.totals.counted)} requests sent`,
  );
  log(
    `  entries ${JSON.stringify(step.entriesByResult)}; batches ${JSON.stringify(step.batches)}; ` +
      `memory peak RSS ${f(step.memory.peakRssMiB, 0)} MiB, VmHWM ${f(step.memory.hwmMiB, 0)} MiB`,
  );
  const c = step.cpu;
  log(
    `  CPU s over ${f(step.windowS, 1)} s: generator ${f(c.generator)}, sidecar ${f(c.sidecar)}, postgres ${f(c.postgres)}, ` +
      `bench ${f(c.orchestrator)}, machine ${f(c.machine)}` +
      (step.eventLoopDelay
        ? `; sidecar event-loop delay p99 ${f(step.eventLoopDelay.p99Ms, 0)} ms, max ${f(step.eventLoopDelay.maxMs, 0)} ms`
        : ""),
  );
  for (const error of step.errors) log(`  ERROR: ${error}`);
}
