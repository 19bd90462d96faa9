import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { machineBusySeconds } from "./usage.js";

const BUSY_SAMPLE_MS = 2_000;
/** Cores' worth of CPU in use by others before the start above which the run is flagged as noisy. */
export const BUSY_WARNING = 0.2;

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  postgres: string;
  redis: string;
  commit: string;
  loadBefore: string;
  /** Cores' worth of CPU other processes used just before the benchmark started. */
  busyBefore: number;
  /** DAMON's sampling interval, when the kernel's memory-access monitor is running (see KDAMOND). */
  damonSampleMs: number | undefined;
}

/** The kernel threads of DAMON, the memory-access monitor some hypervisors and distributions run. */
export const KDAMOND = /^kdamond\./;

/** The sampling interval of the first running DAMON context, from its sysfs admin interface. */
function damonSampleMs(): number | undefined {
  const root = "/sys/kernel/mm/damon/admin/kdamonds";
  try {
    for (const id of readdirSync(root)) {
      if (readFileSync(`${root}/${id}/state`, "utf8").trim() !== "on") continue;
      const us = readFileSync(`${root}/${id}/contexts/0/monitoring_attrs/intervals/sample_us`, "utf8");
      return Number(us) / 1000;
    }
  } catch {
    // No DAMON in this kernel, or not readable here.
  }
  return undefined;
}

/** The machine and the versions a report is about; `postgres` and `redis` as their servers report them. */
export async function describeMachine(postgres: string, redis: string): Promise<MachineInfo> {
  const busyStart = machineBusySeconds();
  await new Promise((resolve) => setTimeout(resolve, BUSY_SAMPLE_MS));
  const busyBefore = (machineBusySeconds() - busyStart) / (BUSY_SAMPLE_MS / 1000);
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? "unknown";
  let commit = "unknown";
  try {
    commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8" }).trim();
  } catch {
    // Not a git checkout.
  }
  return {
    cpus: os.availableParallelism(),
    cpuModel: model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres,
    redis,
    commit,
    loadBefore: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
    busyBefore,
    damonSampleMs: damonSampleMs(),
  };
}

/** Cores' worth of CPU the machine spent busy over the next `ms`. */
export async function busyCores(ms: number): Promise<number> {
  const start = machineBusySeconds();
  await new Promise((resolve) => setTimeout(resolve, ms));
  return (machineBusySeconds() - start) / (ms / 1000);
}

/**
 * Before a run, while the benchmark's own processes sit idle, waits for other work on a shared
 * machine to pass: a test suite or a type check running alongside would otherwise land in the
 * window. Bounded by a budget shared across the whole benchmark, so a machine that never quiets
 * down costs a fixed delay and then is measured anyway (and flagged in the report).
 */
export async function waitForQuiet(
  budget: { remainingS: number },
  log: (message: string) => void,
): Promise<void> {
  let busy = await busyCores(1_000);
  if (busy <= BUSY_WARNING || budget.remainingS <= 0) return;
  log(
    `  other processes are using ${busy.toFixed(2)} cores; waiting up to ${budget.remainingS.toFixed(0)} s for quiet`,
  );
  while (budget.remainingS > 0) {
    busy = await busyCores(1_000);
    budget.remainingS -= 1;
    if (busy <= BUSY_WARNING) return;
  }
  log(`  still ${busy.toFixed(2)} cores busy; measuring anyway`);
}
