import { join } from "node:path";
import { GiveUp, onLines, spawnTracked, stopChild, waitFor } from "../authz/processes.js";
import type { GeneratorConfig, GeneratorEvent, PhaseResult, PhaseSpec } from "./protocol.js";

const HERE = import.meta.dirname;
/** Children run TypeScript through tsx's loader in-process, as bench/authz's do. */
const NODE_ARGS = ["--import", "tsx"];

export interface FloorServer {
  pid: number;
  port: number;
  stop(): Promise<void>;
}

export async function startFloorServer(cwd: string, body: string): Promise<FloorServer> {
  const child = spawnTracked(process.execPath, [...NODE_ARGS, join(HERE, "floor-server.ts"), body], {
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
  const bound = await waitFor("the floor server's port", 30_000, async () => {
    if (child.exitCode !== null) throw new GiveUp(`floor server exited with code ${child.exitCode}`);
    return port;
  });
  return { pid: child.pid ?? 0, port: bound, stop: () => stopChild(child) };
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
  const child = spawnTracked(process.execPath, [...NODE_ARGS, join(HERE, "generator.ts")], {
    cwd,
    stdio: ["pipe", "pipe", "inherit"],
  });
  const pid = child.pid ?? 0;
  child.stdin?.end(JSON.stringify(config));
  const results: PhaseResult[] = [];
  let fatal: string | undefined;
  onLines(child.stdout, (line) => {
    let event: GeneratorEvent;
    try {
      event = JSON.parse(line) as GeneratorEvent;
    } catch {
      process.stdout.write(`  [generator] ${line}\n`);
      return;
    }
    if (event.event === "phase-start") hooks.onStart(event.name, pid);
    else if (event.event === "phase-end") {
      hooks.onEnd(event.result, pid);
      results.push(event.result);
    } else fatal = event.message;
  });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once("close", (c, s) => resolve([c, s])),
  );
  if (fatal) throw new Error(`generator: ${fatal}`);
  if (results.length !== config.phases.length) {
    throw new Error(
      `generator exited (${signal ?? `code ${code}`}) after ${results.length} of ${config.phases.length} phases`,
    );
  }
  return results;
}
