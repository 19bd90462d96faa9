import { log, scrapeMetrics, waitForQuiet } from "@gateway/harness";
import { cpuShare, cpuSnapshot } from "./cpu.js";
import { runGenerator } from "./launch.js";
import type { GeneratorConfig } from "./protocol.js";
import type { LoopDelay, PhaseRecord } from "./report.js";

export interface MeasuredTarget {
  label: string;
  /** The process the CPU figures charge to the server. */
  pid: number;
  url: string;
  /** Where the target serves Prometheus /metrics (the service only). */
  metricsPort?: number;
}

/**
 * prom-client's default `eventLoopMonitoringPrecision`. Node's monitor records the time between
 * ticks of a timer of this interval, so an idle loop reads about 10 ms: the lag is what exceeds it.
 */
const LOOP_MONITOR_INTERVAL_MS = 10;

/** prom-client resets its event-loop delay histogram at every scrape, so one at each end spans the phase. */
async function loopDelayAt(port: number): Promise<LoopDelay | undefined> {
  const samples = await scrapeMetrics(port);
  const p99 = samples.get("nodejs_eventloop_lag_p99_seconds");
  const max = samples.get("nodejs_eventloop_lag_max_seconds");
  const lagMs = (seconds: number) => Math.max(0, seconds * 1000 - LOOP_MONITOR_INTERVAL_MS);
  return p99 === undefined || max === undefined ? undefined : { p99Ms: lagMs(p99), maxMs: lagMs(max) };
}

/** Every phase of `config` against one target, in one generator process, with CPU over each phase. */
export async function measureTarget(
  repoRoot: string,
  target: MeasuredTarget,
  config: Omit<GeneratorConfig, "url">,
  quietBudget: { remainingS: number },
): Promise<PhaseRecord[]> {
  await waitForQuiet(quietBudget, log);
  const records: PhaseRecord[] = [];
  const delays: Array<Promise<LoopDelay | undefined>> = [];
  let before: ReturnType<typeof cpuSnapshot> | undefined;
  const scrape = () => (target.metricsPort === undefined ? undefined : loopDelayAt(target.metricsPort));
  await runGenerator(
    repoRoot,
    { ...config, url: target.url },
    {
      onStart: (name, generatorPid) => {
        before = cpuSnapshot(target.pid, generatorPid);
        void scrape()?.catch(() => undefined);
        log(`  ${target.label}: ${name}…`);
      },
      onEnd: (result, generatorPid) => {
        const after = cpuSnapshot(target.pid, generatorPid);
        if (!before) return;
        const cpu = cpuShare(before, after);
        records.push({ result, cpu, loopDelay: undefined });
        delays.push(scrape() ?? Promise.resolve(undefined));
        log(
          `    ${result.responses.toLocaleString("en-US")} answers in ${result.durationS.toFixed(1)} s; ` +
            `server ${cpu.server.toFixed(2)} cores over ${cpu.windowS.toFixed(1)} s`,
        );
      },
    },
  );
  const loopDelays = await Promise.all(delays);
  return records.map((record, i) => ({ ...record, loopDelay: loopDelays[i] }));
}
