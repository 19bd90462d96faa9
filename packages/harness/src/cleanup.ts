import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { killAllProcessesNow, stopAllProcesses } from "./process.js";

/** Undo steps, run newest first, each at most once: on success, on error and on Ctrl-C alike. */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];
  private running: Promise<void> | undefined;

  add(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
  }

  /** A fresh temporary folder, removed with the other undo steps. */
  tempDir(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.add(`remove ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  runAll(): Promise<void> {
    this.running ??= (async () => {
      for (let step = this.steps.pop(); step; step = this.steps.pop()) {
        try {
          await step.run();
        } catch (err) {
          process.stdout.write(
            `cleanup: could not ${step.what}: ${err instanceof Error ? err.message : String(err)}\n`,
          );
        }
      }
      await stopAllProcesses();
    })();
    return this.running;
  }
}

/**
 * Runs a program's main() as the whole process: its undo steps run on success, on error and on the
 * first Ctrl-C alike (a second Ctrl-C exits at once), children are killed if the process exits some
 * other way, and the exit code is main()'s.
 */
export async function runAsProcess(
  name: string,
  main: (cleanup: Cleanup) => Promise<number>,
  log: (line: string) => void,
): Promise<never> {
  const cleanup = new Cleanup();
  process.on("exit", killAllProcessesNow);
  let interrupted = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (interrupted) process.exit(130);
      interrupted = true;
      log(`\n${signal}: stopping children and dropping what ${name} created…`);
      setTimeout(() => process.exit(130), 60_000).unref();
      cleanup.runAll().finally(() => process.exit(130));
    });
  }
  let code = 1;
  try {
    code = await main(cleanup);
  } catch (err) {
    // After Ctrl-C the children are gone and main() fails for that reason: nothing to add.
    if (!interrupted)
      log(`\n${name} failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  } finally {
    await cleanup.runAll();
  }
  process.exit(code);
}
