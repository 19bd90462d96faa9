import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Config, loadConfig } from "../../billing-sidecar/src/config.js";
import { freePort, GiveUp, onLines, spawnTracked, stopChild, waitFor } from "../authz/processes.js";

export interface SidecarProcess {
  pid: number;
  alsPort: number;
  httpPort: number;
  /** The sidecar's settings, as its own config parser reads the environment it was given. */
  config: Config;
  /** Log lines at warn level and above (LOG_LEVEL=warn lets nothing else through). */
  logLines: string[];
  recentOutput(): string;
  isRunning(): boolean;
  stop(): Promise<void>;
}

export interface SidecarEnvironment {
  databaseUrl: string;
  stripe?: { apiKey: string; apiBase: string; mode: "v1" | "stream"; sendInterval?: string };
  /** Extra node flags, e.g. --cpu-prof. */
  nodeArgs?: string[];
}

const START_TIMEOUT_MS = 60_000;
const RECENT_LINES = 40;

/**
 * `node --import tsx billing-sidecar/src/run.ts` as a direct child, so /proc/<pid> is the sidecar
 * itself. Other sidecar settings (USAGE_FLUSH_INTERVAL, DEDUPE_WINDOW_ENTRIES, …) pass through from
 * the benchmark's own environment.
 */
export async function startSidecar(repoRoot: string, env: SidecarEnvironment): Promise<SidecarProcess> {
  const alsPort = await freePort();
  const httpPort = await freePort();
  const sidecarEnv: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: env.databaseUrl,
    ALS_PORT: String(alsPort),
    HTTP_PORT: String(httpPort),
    HOST: "127.0.0.1",
    LOG_LEVEL: "warn",
  };
  delete sidecarEnv.STRIPE_API_KEY;
  delete sidecarEnv.STRIPE_API_BASE;
  if (env.stripe) {
    sidecarEnv.STRIPE_API_KEY = env.stripe.apiKey;
    sidecarEnv.STRIPE_API_BASE = env.stripe.apiBase;
    sidecarEnv.STRIPE_MODE = env.stripe.mode;
    if (env.stripe.sendInterval) sidecarEnv.STRIPE_SEND_INTERVAL = env.stripe.sendInterval;
  }
  const config = loadConfig(sidecarEnv);
  const child = spawnTracked(
    process.execPath,
    [...(env.nodeArgs ?? []), "--import", "tsx", join(repoRoot, "billing-sidecar/src/run.ts")],
    { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"], env: sidecarEnv },
  );
  const recent: string[] = [];
  const logLines: string[] = [];
  const remember = (line: string) => {
    recent.push(line);
    if (recent.length > RECENT_LINES) recent.shift();
    logLines.push(line);
    process.stdout.write(`  [sidecar] ${line}\n`);
  };
  onLines(child.stdout, remember);
  onLines(child.stderr, remember);
  const recentOutput = () => recent.join("\n");
  await waitFor("the sidecar's /ready", START_TIMEOUT_MS, async () => {
    if (child.exitCode !== null) {
      throw new GiveUp(`billing-sidecar exited with code ${child.exitCode}:\n${recentOutput()}`);
    }
    const res = await fetch(`http://127.0.0.1:${httpPort}/ready`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200 ? true : undefined;
  });
  return {
    pid: child.pid ?? 0,
    alsPort,
    httpPort,
    config,
    logLines,
    recentOutput,
    isRunning: () => child.exitCode === null && child.signalCode === null,
    // SIGTERM: the sidecar stops taking streams and writes what it holds (and --cpu-prof writes its profile).
    stop: () => stopChild(child, 20_000),
  };
}

export interface MemorySample {
  rssKiB: number;
  /** VmHWM: the peak resident set size since the process started. */
  hwmKiB: number;
}

export function memoryOf(pid: number): MemorySample | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(status)?.[1] ?? 0);
    return { rssKiB: field("VmRSS"), hwmKiB: field("VmHWM") };
  } catch {
    return undefined; // exited
  }
}
