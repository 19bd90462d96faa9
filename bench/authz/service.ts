import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { freePort, httpAnswers, startProcess, tsxCommand } from "@gateway/harness";
import { loadConfig } from "../../api-key-service/src/config.js";
import { SERVICE_NODE_FLAGS } from "../../api-key-service/src/node-flags.js";
import type { Target } from "./launch.js";

export interface ServiceTarget extends Target {
  httpPort: number;
  /** The forward-auth endpoint's port (AUTH_HTTP_PORT). */
  authHttpPort: number;
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
  const authHttpPort = await freePort();
  const redisKeyPrefix = `bench:${randomBytes(4).toString("hex")}:`;
  const adminToken = randomBytes(32).toString("hex");
  const serviceEnv: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: env.databaseUrl,
    REDIS_URL: env.redisUrl,
    ADMIN_TOKEN: adminToken,
    HTTP_PORT: String(httpPort),
    GRPC_PORT: String(grpcPort),
    AUTH_HTTP_PORT: String(authHttpPort),
    HOST: "127.0.0.1",
    KEY_PREFIX: env.keyPrefix,
    LOG_LEVEL: "warn",
    REDIS_KEY_PREFIX: redisKeyPrefix,
    // Measured with hot keys' leases (docs/AUTHZ.md) unless the caller says otherwise.
    RATE_LIMIT_LEASES: process.env.RATE_LIMIT_LEASES ?? "true",
  };
  // The service's own parser, so defaults it changes (cache TTL, flush interval) reach the report.
  const config = loadConfig(serviceEnv);
  const output: string[] = [];
  const logLines: string[] = [];
  let announcedGrpcPort: number | undefined;
  // Warnings and errors reach the console as they happen: a run that logs errors is suspect.
  const remember = (line: string, stream: "stdout" | "stderr") => {
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
    (stream === "stdout" ? process.stdout : process.stderr).write(`  [service] ${line}\n`);
  };
  const service = startProcess({
    name: "api-key-service",
    ...tsxCommand(join(repoRoot, "api-key-service/src/run.ts"), nodeArgs()),
    cwd: repoRoot,
    env: serviceEnv,
    onLine: remember,
  });
  const recentOutput = () => output.join("\n");
  await service.waitUntilReady(() => httpAnswers(`http://127.0.0.1:${httpPort}/ready`), START_TIMEOUT_MS);

  return {
    pid: service.pid,
    httpPort,
    authHttpPort,
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
    stop: () => service.stop("SIGTERM", 15_000),
  };
}

/**
 * The service's own Node flags (node-flags.ts), then BENCH_SERVICE_NODE_ARGS: extra ones for
 * profiling (e.g. `--cpu-prof --trace-gc`).
 */
function nodeArgs(): string[] {
  const extra = (process.env.BENCH_SERVICE_NODE_ARGS ?? "").split(/\s+/).filter((arg) => arg !== "");
  return [...SERVICE_NODE_FLAGS, ...extra];
}
