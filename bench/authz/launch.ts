import { join } from "node:path";
import { startPortServer, startReporting, tsxCommand } from "@gateway/harness";
import type { GeneratorConfig, GeneratorEvent, GeneratorResult } from "./generator-protocol.js";

const HERE = import.meta.dirname;

export interface Target {
  /** The process whose CPU the report charges to the server. */
  pid: number;
  grpcPort: number;
  /** The service's HTTP port, where its /metrics are; the no-op servers have none. */
  httpPort?: number;
  stop(): Promise<unknown>;
}

/** One of the no-op servers of noop-server.ts: `grpc-js` or our own `h2` (H2GrpcServer). */
export async function startNoopServer(
  cwd: string,
  kind: "grpc-js" | "h2" | "h2-redis",
  redisAddress?: string,
): Promise<Target> {
  const entry = tsxCommand(join(HERE, "noop-server.ts"));
  const server = await startPortServer({
    name: `no-op ${kind} server`,
    command: entry.command,
    args: [...entry.args, kind, ...(redisAddress ? [redisAddress] : [])],
    cwd,
  });
  return { pid: server.pid, grpcPort: server.port, stop: () => server.stop() };
}

export interface GeneratorHooks {
  /** Warm-up is over; take the "before" snapshots now. */
  onMeasuring(generatorPid: number): Promise<void>;
  /** The window closed; take the "after" snapshots now, before in-flight calls drain. */
  onWindowEnd(generatorPid: number): Promise<void>;
}

/** Runs one generator process to completion and returns what it measured. */
export async function runGenerator(
  cwd: string,
  config: GeneratorConfig,
  hooks: GeneratorHooks,
): Promise<GeneratorResult> {
  const hookWork: Promise<void>[] = [];
  let hookError: unknown;
  let result: GeneratorResult | undefined;
  let fatal: string | undefined;
  const run = (hook: (pid: number) => Promise<void>) =>
    hookWork.push(
      hook(generator.pid).catch((err: unknown) => {
        hookError = err;
      }),
    );
  const entry = tsxCommand(join(HERE, "generator.ts"));
  const generator = startReporting<GeneratorEvent>({
    name: "generator",
    command: entry.command,
    args: [...entry.args, JSON.stringify(config)],
    cwd,
    inheritStderr: true,
    onEvent: (event) => {
      if (event.event === "measuring") run(hooks.onMeasuring);
      else if (event.event === "window-end") run(hooks.onWindowEnd);
      else if (event.event === "result") result = event.result;
      else if (event.event === "fatal") fatal = event.message;
    },
  });
  const exit = await generator.exited;
  await Promise.all(hookWork);
  if (fatal) throw new Error(`generator: ${fatal}`);
  if (!result) throw new Error(`generator exited (${exit.signal ?? `code ${exit.code}`}) without a result`);
  if (hookError) throw hookError;
  return result;
}
