import { join } from "node:path";
import { log, startReporting, tsxCommand } from "@gateway/harness";
import type {
  AlsGeneratorConfig,
  AlsGeneratorEvent,
  AlsGeneratorResult,
  Progress,
} from "./generator-protocol.js";

/** Children run TypeScript through tsx's loader in-process (no wrapper process to measure). */
const GENERATOR = join(import.meta.dirname, "generator.ts");

export interface GeneratorRun {
  pid: number;
  timeline: Progress[];
  result: Promise<AlsGeneratorResult>;
}

export function startGenerator(
  repoRoot: string,
  config: AlsGeneratorConfig,
  hooks: { measuring(p: Progress): void; windowEnd(p: Progress): void },
): GeneratorRun {
  const timeline: Progress[] = [];
  let settled: AlsGeneratorResult | undefined;
  let fatal: string | undefined;
  const generator = startReporting<AlsGeneratorEvent>({
    name: "generator",
    command: process.execPath,
    args: [...tsxCommand(GENERATOR).args, JSON.stringify(config)],
    cwd: repoRoot,
    inheritStderr: true,
    onEvent: (event) => {
      if (event.event === "progress" || event.event === "measuring" || event.event === "window-end") {
        timeline.push({ at: event.at, entries: event.entries, counted: event.counted });
      }
      if (event.event === "ready") {
        log(`  generator: ${event.entriesPerMessage} entries a message, ${event.messageBytes} bytes`);
      } else if (event.event === "measuring") hooks.measuring(event);
      else if (event.event === "window-end") hooks.windowEnd(event);
      else if (event.event === "result") settled = event.result;
      else if (event.event === "fatal") fatal = event.message;
    },
  });
  const result = generator.exited.then(({ code, signal }) => {
    if (settled) return settled;
    throw new Error(`generator: ${fatal ?? `exited (${signal ?? `code ${code}`}) without a result`}`);
  });
  return { pid: generator.pid, timeline, result };
}
