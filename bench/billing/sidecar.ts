import { join } from "node:path";
import { freePort, httpAnswers, startProcess, tsxCommand } from "@gateway/harness";
import { type Config, loadConfig } from "../../billing-sidecar/src/config.js";

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
  stop(): Promise<unknown>;
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
  const recent: string[] = [];
  const logLines: string[] = [];
  const sidecar = startProcess({
    name: "billing-sidecar",
    ...tsxCommand(join(repoRoot, "billing-sidecar/src/run.ts"), env.nodeArgs),
    cwd: repoRoot,
    env: sidecarEnv,
    onLine: (line) => {
      recent.push(line);
      if (recent.length > RECENT_LINES) recent.shift();
      logLines.push(line);
      process.stdout.write(`  [sidecar] ${line}\n`);
    },
  });
  const recentOutput = () => recent.join("\n");
  await sidecar.waitUntilReady(() => httpAnswers(`http://127.0.0.1:${httpPort}/ready`), START_TIMEOUT_MS);
  return {
    pid: sidecar.pid,
    alsPort,
    httpPort,
    config,
    logLines,
    recentOutput,
    isRunning: () => sidecar.running,
    // SIGTERM: the sidecar stops taking streams and writes what it holds (and --cpu-prof writes its profile).
    stop: () => sidecar.stop("SIGTERM", 20_000),
  };
}
