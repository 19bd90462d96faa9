import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { loadConfig } from "../../api-key-service/src/config.js";
import type { Target } from "./launch.js";
import { freePort, GiveUp, onLines, spawnTracked, stopChild, waitFor } from "./processes.js";

export interface ServiceTarget extends Target {
  httpPort: number;
  /** Settings of the service that shape the figures, as its own config parser reads our env. */
  settings: { keyCacheTtlS: number; flushIntervalS: number };
  /** Where the service said it listens for gRPC (the `grpc_port` log field), if it said so. */
  announcedGrpcPort: number | undefined;
  redisKeyPrefix: string;
  /** The ADMIN_TOKEN the service was started with, for the REST management API. */
  adminToken: string;
  /** Every line the service wrote: warnings and errors only, at LOG_LEVEL=warn. */
  logLines: string[];
  /** The service's recent output, for error messages. */
  recentOutput(): string;
}

export interface ServiceEnvironment {
  databaseUrl: string;
  redisUrl: string;
  keyPrefix: string;
}

const START_TIMEOUT_MS = 90_000;

/**
 * `node --import tsx api-key-service/src/run.ts`, as a direct child so /proc/<pid>/stat is the
 * service itself. Ports are chosen here and passed in, so readiness does not depend on the log level
 * letting the "listening" line through.
 */
export async function startService(repoRoot: string, env: ServiceEnvironment): Promise<ServiceTarget> {
  const httpPort = await freePort();
  const grpcPort = await freePort();
  const redisKeyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
  const adminToken = randomBytes(32).toString("hex");
  const serviceEnv: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    ADMIN_TOKEN: adminToken,
    HTTP_PORT: String(httpPort),
    GRPC_PORT: String(grpcPort),
    HOST: "127.0.0.1",
    KEY_PREFIX: env.keyPrefix,
    LOG_LEVEL: "warn",
    REDIS_KEY_PREFIX: redisKeyPrefix,
  };
  // The service's own parser, so defaults it changes (cache TTL, flush interval) reach the report.
  const config = loadConfig(serviceEnv);
  const child = spawnTracked(
    process.execPath,
    [...nodeArgs(), "--import", "tsx", join(repoRoot, "api-key-service/src/run.ts")],
    {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
      env: serviceEnv,
    },
  );
  const output: string[] = [];
  const logLines: string[] = [];
  let announcedGrpcPort: number | undefined;
  const remember = (line: string) => {
    output.push(line);
    logLines.push(line);
    if (output.length > 40) output.shift();
    if (line.includes('"api-key-service listening"')) {
      try {
        const fields = JSON.parse(line) as { grpc_port?: number };
        if (typeof fields.grpc_port === "number") announcedGrpcPort = fields.grpc_port;
      } catch {
        // Not JSON after all; the ports passed in still hold.
      }
    }
  };
  // Warnings and errors reach the console as they happen: a run that logs errors is suspect.
  onLines(child.stdout, (line) => {
    remember(line);
    process.stdout.write(`  [service] ${line}\n`);
  });
  onLines(child.stderr, (line) => {
    remember(line);
    process.stderr.write(`  [service] ${line}\n`);
  });
  const recentOutput = () => output.join("\n");

  await waitFor("the service's /ready", START_TIMEOUT_MS, async () => {
    if (child.exitCode !== null) {
      throw new GiveUp(`api-key-service exited with code ${child.exitCode}:\n${recentOutput()}`);
    }
    const res = await fetch(`http://127.0.0.1:${httpPort}/ready`, { signal: AbortSignal.timeout(2_000) });
    await res.arrayBuffer();
    return res.status === 200 ? true : undefined;
  });

  return {
    pid: child.pid ?? 0,
    httpPort,
    grpcPort: announcedGrpcPort ?? grpcPort,
    announcedGrpcPort,
    redisKeyPrefix,
    adminToken,
    logLines,
    settings: {
      keyCacheTtlS: config.KEY_CACHE_TTL / 1000,
      flushIntervalS: config.AUTHZ_FLUSH_INTERVAL / 1000,
    },
    recentOutput,
    stop: () => stopChild(child, 15_000),
  };
}

/** BENCH_SERVICE_NODE_ARGS: extra Node flags for the service only, for profiling (e.g. `--cpu-prof --trace-gc`). */
function nodeArgs(): string[] {
  return (process.env.BENCH_SERVICE_NODE_ARGS ?? "").split(/\s+/).filter((arg) => arg !== "");
}

/** Every sample of the service's Prometheus text, keyed by series (`name{labels}`). */
export async function scrapeMetrics(httpPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) samples.set(line.slice(0, space), value);
  }
  return samples;
}

/** How much each series of `family` grew between two scrapes, by label set. */
export function counterDelta(
  before: Map<string, number>,
  after: Map<string, number>,
  family: string,
): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [series, value] of after) {
    if (series !== family && !series.startsWith(`${family}{`)) continue;
    const d = value - (before.get(series) ?? 0);
    if (d !== 0) delta.set(series.slice(family.length) || "total", d);
  }
  return delta;
}

export function sum(values: Map<string, number>): number {
  let total = 0;
  for (const value of values.values()) total += value;
  return total;
}
