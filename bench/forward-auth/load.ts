import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type LatencySummary, startProcess, waitForQuiet } from "@gateway/harness";
import { readH2loadLog } from "../authz/h2load.js";
import { type CpuShare, cpuShare, cpuSnapshot } from "../verify/cpu.js";

export interface LoadRun {
  h2load: string;
  /** What is measured, for the report. */
  label: string;
  url: string;
  headers: string[];
  connections: number;
  warmupS: number;
  durationS: number;
  /** Paced: requests per second over all connections; closed loop when absent. */
  rate?: number;
  /** The process doing the work, for its CPU share. */
  serverPid: number;
  workDir: string;
}

export interface LoadResult {
  label: string;
  rate: number | undefined;
  /** 200 answers per second over the measured window. */
  perS: number;
  ok: number;
  /** Answers other than 200, and requests that failed, errored or timed out. */
  failures: number;
  failureExamples: string[];
  latency: LatencySummary;
  /** Cores' worth of CPU over the measured window, by party; undefined if it could not be read. */
  cpu: CpuShare | undefined;
}

type Snapshot = ReturnType<typeof cpuSnapshot>;

/**
 * One h2load run over HTTP/1.1 keep-alive connections (--h1, one request in flight per connection),
 * closed loop or paced with --rps (per connection; h2load spreads each second's share in small
 * bursts). Latency per request comes from h2load's --log-file, which covers the measured window only.
 */
export async function runLoad(
  run: LoadRun,
  quiet: { remainingS: number },
  log: (m: string) => void,
): Promise<LoadResult> {
  await waitForQuiet(quiet, log);
  const logFile = join(run.workDir, `h2load-${run.label.replace(/\W+/g, "-")}.log`);
  writeFileSync(logFile, "");
  const pacing = run.rate ? [`--rps=${run.rate / run.connections}`] : [];
  const h2load = startProcess({
    name: "h2load",
    command: run.h2load,
    args: [
      "--h1",
      `--clients=${run.connections}`,
      "--max-concurrent-streams=1",
      "--threads=1",
      `--warm-up-time=${run.warmupS}`,
      `--duration=${run.durationS}`,
      ...pacing,
      `--log-file=${logFile}`,
      ...run.headers.map((h) => `--header=${h}`),
      run.url,
    ],
  });
  // The CPU window follows h2load's timetable: from the end of its warm-up to just before it stops.
  let before: Snapshot | undefined;
  let after: Snapshot | undefined;
  const snapshot = () => {
    try {
      return cpuSnapshot(run.serverPid, h2load.pid);
    } catch {
      return undefined; // h2load already gone: no CPU figure for this run
    }
  };
  const timers = [
    setTimeout(() => {
      before = snapshot();
    }, run.warmupS * 1000),
    setTimeout(
      () => {
        after = snapshot();
      },
      (run.warmupS + run.durationS) * 1000 - 250,
    ),
  ];
  const { code } = await h2load.exited;
  for (const timer of timers) clearTimeout(timer);
  const text = h2load.output();
  if (code !== 0) throw new Error(`h2load exited with code ${code}:\n${text}`);
  const counts =
    /requests: \d+ total, \d+ started, \d+ done, \d+ succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      text,
    );
  const transport = Number(counts?.[1] ?? 0) + Number(counts?.[2] ?? 0) + Number(counts?.[3] ?? 0);
  const { ok, latency, httpFailures } = readH2loadLog(logFile);
  const failureExamples = [...httpFailures.examples];
  if (transport > 0) failureExamples.push(`transport: ${transport} failed, errored or timed out`);
  return {
    label: run.label,
    rate: run.rate,
    perS: ok / run.durationS,
    ok,
    failures: httpFailures.count + transport,
    failureExamples,
    latency: latency.summary(),
    cpu: before && after ? cpuShare(before, after) : undefined,
  };
}
