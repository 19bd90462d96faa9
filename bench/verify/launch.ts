import { join } from "node:path";
import { startPortServer, startReporting, tsxCommand } from "@gateway/harness";
import type { GeneratorConfig, GeneratorEvent, PhaseResult, PhaseSpec } from "./protocol.js";

const HERE = import.meta.dirname;

export interface FloorServer {
  pid: number;
  port: number;
  stop(): Promise<unknown>;
}

export async function startFloorServer(cwd: string, body: string): Promise<FloorServer> {
  const entry = tsxCommand(join(HERE, "floor-server.ts"));
  const server = await startPortServer({
    name: "floor server",
    command: entry.command,
    args: [...entry.args, body],
    cwd,
  });
  return { pid: server.pid, port: server.port, stop: () => server.stop() };
}

export interface PhaseHooks {
  /** A phase is about to start: take the "before" snapshots. */
  onStart(phase: PhaseSpec["name"], generatorPid: number): void;
  /** A phase ended: take the "after" snapshots. */
  onEnd(result: PhaseResult, generatorPid: number): void;
}

/** Runs one generator process through every phase of `config` and returns what each measured. */
export async function runGenerator(
  cwd: string,
  config: GeneratorConfig,
  hooks: PhaseHooks,
): Promise<PhaseResult[]> {
  const results: PhaseResult[] = [];
  let fatal: string | undefined;
  const generator = startReporting<GeneratorEvent>({
    name: "generator",
    ...tsxCommand(join(HERE, "generator.ts")),
    cwd,
    stdin: "pipe",
    inheritStderr: true,
    onEvent: (event) => {
      if (event.event === "phase-start") hooks.onStart(event.name, generator.pid);
      else if (event.event === "phase-end") {
        hooks.onEnd(event.result, generator.pid);
        results.push(event.result);
      } else fatal = event.message;
    },
  });
  generator.child.stdin?.end(JSON.stringify(config));
  const { code, signal } = await generator.exited;
  if (fatal) throw new Error(`generator: ${fatal}`);
  if (results.length !== config.phases.length) {
    throw new Error(
      `generator exited (${signal ?? `code ${code}`}) after ${results.length} of ${config.phases.length} phases`,
    );
  }
  return results;
}
