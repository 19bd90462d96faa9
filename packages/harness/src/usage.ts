/** CPU time and memory of processes, read from /proc (Linux only). */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

/** USER_HZ, the unit of /proc/<pid>/stat and /proc/stat times. */
export const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** utime + stime of a process and all its threads so far, from /proc/<pid>/stat (10 ms resolution). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces and parentheses, so count fields after its ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / CLOCK_TICKS_PER_S;
}

/** CPU time so far of each process named `command` (e.g. every postgres backend), by pid. */
export function cpuSecondsByPid(command: string | RegExp): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (typeof command === "string" ? name !== command : !command.test(name)) continue;
      byPid.set(Number(entry), cpuSeconds(Number(entry)));
    } catch {
      // The process exited while we looked.
    }
  }
  return byPid;
}

/**
 * CPU used between two readings by the processes alive at the second one. A process that exited in
 * between takes its time with it, so this is a lower bound, but never negative.
 */
export function cpuSecondsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

export interface MemorySample {
  rssKiB: number;
  /** VmHWM: the peak resident set size since the process started. */
  hwmKiB: number;
}

/** Resident memory of a process from /proc/<pid>/status; undefined once it has exited. */
export function memoryOf(pid: number): MemorySample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
  } catch {
    return undefined;
  }
}

/**
 * CPU time every core spent busy so far, from /proc/stat. Over a window, busy time not charged to
 * the processes a measurement is about is someone else's (the kernel, other work on a shared
 * machine), and shows how clean the measurement was.
 */
export function machineBusySeconds(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return (
    ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) /
    CLOCK_TICKS_PER_S
  );
}
