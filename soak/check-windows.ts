/**
 * The Check traffic: the benchmark's raw-HTTP/2 generator, paced, one process per window. Each is
 * spawned a few seconds ahead and told when to start (startAtMs), so windows run back to back with no
 * gap while the previous process drains; one process per minute gives one latency summary per minute.
 */
import { type Failures, runGenerator } from "@gateway/bench/authz";
import { log, sleep } from "@gateway/harness";
import type { CheckWindow, ErrorLog } from "./results.js";

/** How long before its start a window's process is spawned (tsx, the proto definition, connecting). */
const SPAWN_LEAD_MS = 5_000;
const WINDOW_S = 60;
const CONNECTIONS = 4;
/** In-flight cap of the paced generator: reaching it counts a skipped send, a failure. */
const IN_FLIGHT_CAP = 2_048;

export interface CheckTraffic {
  repoRoot: string;
  grpcPort: number;
  bodiesFile: string;
  rate: number;
  t0: number;
  warmupS: number;
  durationS: number;
}

export function planWindows(t: CheckTraffic): CheckWindow[] {
  const windows: CheckWindow[] = [
    {
      label: "warm-up",
      measured: false,
      startAtMs: t.t0,
      plannedS: t.warmupS,
      result: undefined,
      error: undefined,
    },
  ];
  for (let offset = 0; offset < t.durationS; offset += WINDOW_S) {
    windows.push({
      label: `minute ${offset / WINDOW_S + 1}`,
      measured: true,
      startAtMs: t.t0 + (t.warmupS + offset) * 1000,
      plannedS: Math.min(WINDOW_S, t.durationS - offset),
      result: undefined,
      error: undefined,
    });
  }
  return windows;
}

const FAILURE_KINDS = ["http", "grpc", "denied", "transport", "skipped", "decodeMismatch"] as const;
const KIND_NAMES: Record<(typeof FAILURE_KINDS)[number], string> = {
  http: "check: HTTP status not 200",
  grpc: "check: grpc-status not OK",
  denied: "check: a key that never changed not allowed (denied or unavailable)",
  transport: "check: transport error or timeout",
  skipped: "check: generator fell behind (in-flight cap)",
  decodeMismatch: "check: response decode mismatch",
};

export function failureCount(f: Failures): number {
  return FAILURE_KINDS.reduce((n, kind) => n + f[kind], 0);
}

function recordFailures(errors: ErrorLog, where: string, failures: Failures, at: number): void {
  for (const kind of FAILURE_KINDS) {
    const example = failures.examples.find((e) => e.startsWith(`${kind}:`)) ?? kind;
    errors.add(KIND_NAMES[kind], `${where}${example}`, failures[kind], at);
  }
}

/**
 * Runs every window and fills in its result. `targetAlive` tells a generator that failed because the
 * service went away (a finding) from one that failed on its own (a harness error).
 */
export async function runCheckWindows(
  t: CheckTraffic,
  windows: CheckWindow[],
  errors: ErrorLog,
  targetAlive: () => boolean,
  harnessErrors: string[],
): Promise<void> {
  const runs: Promise<void>[] = [];
  for (const window of windows) {
    await sleep(Math.max(0, window.startAtMs - SPAWN_LEAD_MS - Date.now()));
    const config = {
      port: t.grpcPort,
      bodiesFile: t.bodiesFile,
      keys: "spread" as const,
      mode: "paced" as const,
      concurrency: IN_FLIGHT_CAP,
      connections: CONNECTIONS,
      rate: t.rate,
      warmupS: 0,
      durationS: window.plannedS,
      startAtMs: window.startAtMs,
    };
    const noop = async () => {};
    runs.push(
      runGenerator(t.repoRoot, config, { onMeasuring: noop, onWindowEnd: noop }).then(
        (result) => {
          window.result = result;
          // Failures outside the window happened while it drained, just after its end.
          const endAt = window.startAtMs + window.plannedS * 1000;
          // The report prefixes each example with its phase; a minute's examples also say which minute.
          const where = window.measured ? `${window.label}: ` : "";
          recordFailures(errors, where, result.failures, window.startAtMs);
          recordFailures(errors, `${where}while draining: `, result.outsideWindowFailures, endAt);
          const l = result.latency;
          log(
            `  checks ${window.label}: ${result.checks.toLocaleString("en-US")} OK at ${result.checksPerS.toFixed(0)}/s, ` +
              `p50 ${(l.p50Us / 1000).toFixed(2)} ms, p99 ${(l.p99Us / 1000).toFixed(2)} ms, max ${(l.maxUs / 1000).toFixed(1)} ms, ` +
              `failures ${failureCount(result.failures) + failureCount(result.outsideWindowFailures)}`,
          );
        },
        (err: unknown) => {
          window.error = err instanceof Error ? err.message : String(err);
          errors.add(
            "check: generator gave no result",
            `${window.label}: ${window.error}`,
            1,
            window.startAtMs,
          );
          if (targetAlive()) harnessErrors.push(`Check generator, ${window.label}: ${window.error}`);
          log(`  checks ${window.label}: FAILED: ${window.error}`);
        },
      ),
    );
  }
  await Promise.all(runs);
}
