/**
 * nghttp2's h2load as a second, independent load generator for the hot-key runs and the one
 * generator of the tail runs against the floor (tail.ts): C, cheap, and not written by us, so
 * agreement with generator.ts is evidence that neither distorts the figures. It
 * sends one fixed body, so it cannot walk the keys, and it sees HTTP status only (not grpc-status);
 * the service's own authz_checks_total shows what it decided.
 */

import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Histogram, startProcess } from "@gateway/harness";
import { AUTHORIZATION_CHECK_PATH } from "@gateway/proto";
import { type GeneratorResult, noFailures } from "./generator-protocol.js";
import type { GeneratorHooks } from "./launch.js";

function which(command: string): string | undefined {
  try {
    return execFileSync("sh", ["-c", `command -v ${command}`], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

const DEBIAN_PACKAGE = { h2load: "nghttp2-client", nghttpd: "nghttp2-server" } as const;

/**
 * An nghttp2 tool (h2load, the load generator; nghttpd, the floor server), installing its Debian
 * package when it is missing and we may (root with apt-get); otherwise undefined and the reason,
 * and the runs that need it are skipped.
 */
export function ensureNghttp2Tool(
  tool: keyof typeof DEBIAN_PACKAGE,
  log: (message: string) => void,
): { path?: string; note: string } {
  const pkg = DEBIAN_PACKAGE[tool];
  const found = which(tool);
  if (found) return { path: found, note: `${tool} found at ${found}` };
  if (process.getuid?.() !== 0 || !which("apt-get")) {
    return { note: `${tool} is not installed (Debian package ${pkg}) and cannot be installed from here` };
  }
  log(`${tool} is missing: installing the Debian package ${pkg} with apt-get…`);
  try {
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", pkg], {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
      timeout: 180_000,
    });
  } catch (err) {
    return { note: `installing ${pkg} failed: ${err instanceof Error ? err.message : String(err)}` };
  }
  const installed = which(tool);
  return installed
    ? { path: installed, note: `${tool} installed by this run (apt-get install ${pkg})` }
    : { note: `${pkg} installed but ${tool} still not found` };
}

/** h2load, as the hot-key cross-checks and the tail runs use it. */
export function ensureH2load(log: (message: string) => void): { path?: string; note: string } {
  return ensureNghttp2Tool("h2load", log);
}

/** The first line of `<tool> --version`. */
export function toolVersion(path: string): string {
  try {
    return execFileSync(path, ["--version"], { encoding: "utf8" }).split("\n")[0]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

export const h2loadVersion = toolVersion;

export interface H2loadRun {
  path: string;
  port: number;
  /** One gRPC-framed CheckRequest: h2load posts the same bytes every time. */
  body: Buffer;
  workDir: string;
  concurrency: number;
  connections: number;
  warmupS: number;
  durationS: number;
  /** Paced runs: requests per second over all connections (h2load's --rps is per connection). */
  rate?: number;
}

/**
 * Runs h2load once, closed loop or paced (`rate`), and reads its per-request log into the
 * generator's result shape. h2load logs the measured window only (not the warm-up). Paced, it sends
 * each connection's share of a second in small bursts (every ~10 ms), the same for every target.
 */
export async function runH2load(run: H2loadRun, hooks: GeneratorHooks): Promise<GeneratorResult> {
  const bodyFile = join(run.workDir, "h2load-body.bin");
  const logFile = join(run.workDir, "h2load.log");
  writeFileSync(bodyFile, run.body);
  writeFileSync(logFile, "");
  const streams = Math.max(1, Math.round(run.concurrency / run.connections));
  const pacing = run.rate ? [`--rps=${run.rate / run.connections}`] : [];
  const h2load = startProcess({
    name: "h2load",
    command: run.path,
    args: [
      `--duration=${run.durationS}`,
      `--warm-up-time=${run.warmupS}`,
      `--clients=${run.connections}`,
      `--max-concurrent-streams=${streams}`,
      ...pacing,
      "--threads=1",
      `--data=${bodyFile}`,
      `--log-file=${logFile}`,
      "--header=content-type: application/grpc",
      "--header=te: trailers",
      `http://127.0.0.1:${run.port}${AUTHORIZATION_CHECK_PATH}`,
    ],
  });
  // h2load announces its phases only when they are over, so the snapshots follow its timetable.
  const hookWork: Promise<void>[] = [];
  const timers = [
    setTimeout(() => hookWork.push(hooks.onMeasuring(h2load.pid)), run.warmupS * 1000),
    setTimeout(() => hookWork.push(hooks.onWindowEnd(h2load.pid)), (run.warmupS + run.durationS) * 1000),
  ];
  const { code } = await h2load.exited;
  for (const timer of timers) clearTimeout(timer);
  await Promise.all(hookWork);
  const text = h2load.output();
  if (code !== 0) throw new Error(`h2load exited with code ${code}:\n${text}`);

  const requests =
    /requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(
      text,
    );
  const failures = noFailures();
  failures.transport = Number(requests?.[3] ?? 0) + Number(requests?.[4] ?? 0) + Number(requests?.[5] ?? 0);
  const { ok, latency, httpFailures } = readH2loadLog(logFile);
  failures.http = httpFailures.count;
  failures.examples.push(...httpFailures.examples);
  if (failures.transport > 0)
    failures.examples.push(`transport: ${failures.transport} failed/errored/timed out`);
  return {
    checks: ok,
    windowS: run.durationS,
    checksPerS: ok / run.durationS,
    latency: latency.summary(),
    failures,
    outsideWindowFailures: noFailures(),
    totalOk: ok,
    sampledDecodes: 0,
    cpuS: 0,
    maxInFlight: streams * run.connections,
  };
}

/**
 * h2load's --log-file: a line per request, `start µs since epoch <TAB> HTTP status <TAB> µs to the
 * end of the response`. Status 0: still in flight when h2load stopped its clients.
 */
export function readH2loadLog(logFile: string): {
  ok: number;
  latency: Histogram;
  httpFailures: { count: number; examples: string[] };
} {
  const latency = new Histogram();
  const httpFailures = { count: 0, examples: [] as string[] };
  let ok = 0;
  for (const line of readFileSync(logFile, "utf8").split("\n")) {
    const [, status, durationUs] = line.split("\t");
    if (status === undefined || durationUs === undefined || status === "0") continue;
    if (status === "200") {
      ok++;
      latency.record(Number(durationUs));
    } else {
      httpFailures.count++;
      if (httpFailures.examples.length < 5) httpFailures.examples.push(`http: HTTP status ${status}`);
    }
  }
  return { ok, latency, httpFailures };
}
