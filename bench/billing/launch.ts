import { join } from "node:path";
import { log } from "../authz/log.js";
import { onLines, spawnTracked } from "../authz/processes.js";
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
  const child = spawnTracked(process.execPath, ["--import", "tsx", GENERATOR, JSON.stringify(config)], {
    cwd: repoRoot,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const timeline: Progress[] = [];
  const result = new Promise<AlsGeneratorResult>((resolve, reject) => {
    let settled: AlsGeneratorResult | undefined;
    let fatal: string | undefined;
    onLines(child.stdout, (line) => {
      let event: AlsGeneratorEvent;
      try {
        event = JSON.parse(line) as AlsGeneratorEvent;
      } catch {
        process.stdout.write(`  [generator] ${line}\n`);
        return;
      }
      if (event.event === "progress" || event.event === "measuring" || event.event === "window-end") {
        timeline.push({ at: event.at, entries: event.entries, counted: event.counted });
      }
      if (event.event === "ready") {
        log(`  generator: ${event.entriesPerMessage} entries a message, ${event.messageBytes} bytes`);
      } else if (event.event === "measuring") hooks.measuring(event);
      else if (event.event === "window-end") hooks.windowEnd(event);
      else if (event.event === "result") settled = event.result;
      else if (event.event === "fatal") fatal = event.message;
    });
    child.once("close", (code, signal) => {
      if (settled) resolve(settled);
      else
        reject(new Error(`generator: ${fatal ?? `exited (${signal ?? `code ${code}`}) without a result`}`));
    });
  });
  return { pid: child.pid ?? 0, timeline, result };
}
