import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { GeneratorConfig, GeneratorEvent, GeneratorResult } from "./generator-protocol.js";
import { GiveUp, onLines, spawnTracked, stopChild, waitFor } from "./processes.js";

const HERE = import.meta.dirname;
/** Children run TypeScript through tsx's loader in-process (no extra wrapper process to measure). */
const NODE_ARGS = ["--import", "tsx"];

export interface Target {
  /** The process whose CPU the report charges to the server. */
  pid: number;
  grpcPort: number;
  /** The service's HTTP port, where its /metrics are; the no-op server has none. */
  httpPort?: number;
  stop(): Promise<void>;
}

export async function startNoopServer(cwd: string): Promise<Target> {
  const child = spawnTracked(process.execPath, [...NODE_ARGS, join(HERE, "noop-server.ts")], {
    cwd,
    stdio: ["pipe", "pipe", "inherit"],
  });
  let port: number | undefined;
  onLines(child.stdout, (line) => {
    try {
      port = (JSON.parse(line) as { port: number }).port;
    } catch {
      // Not the port line.
    }
  });
  const grpcPort = await waitFor("the no-op server's port", 30_000, async () => {
    if (child.exitCode !== null) throw new GiveUp(`no-op server exited with code ${child.exitCode}`);
    return port;
  });
  return { pid: child.pid ?? 0, grpcPort, stop: () => stopChild(child) };
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
  const child: ChildProcess = spawnTracked(
    process.execPath,
    [...NODE_ARGS, join(HERE, "generator.ts"), JSON.stringify(config)],
    { cwd, stdio: ["ignore", "pipe", "inherit"] },
  );
  const pid = child.pid ?? 0;
  const hookWork: Promise<void>[] = [];
  let hookError: unknown;
  const result = await new Promise<GeneratorResult>((resolve, reject) => {
    let settled: GeneratorResult | undefined;
    onLines(child.stdout, (line) => {
      let event: GeneratorEvent;
      try {
        event = JSON.parse(line) as GeneratorEvent;
      } catch {
        process.stdout.write(`generator: ${line}\n`);
        return;
      }
      const run = (hook: (pid: number) => Promise<void>) =>
        hookWork.push(
          hook(pid).catch((err: unknown) => {
            hookError = err;
          }),
        );
      if (event.event === "measuring") run(hooks.onMeasuring);
      else if (event.event === "window-end") run(hooks.onWindowEnd);
      else if (event.event === "result") settled = event.result;
      else if (event.event === "fatal") reject(new Error(`generator: ${event.message}`));
    });
    child.once("close", (code, signal) => {
      if (settled) resolve(settled);
      else reject(new Error(`generator exited (${signal ?? `code ${code}`}) without a result`));
    });
  });
  await Promise.all(hookWork);
  if (hookError) throw hookError;
  return result;
}
