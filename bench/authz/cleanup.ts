import { stopAllChildren } from "./processes.js";

/** Undo steps, run newest first, each at most once: on success, on error and on Ctrl-C alike. */
export class Cleanup {
  private readonly steps: Array<{ what: string; run: () => Promise<unknown> | unknown }> = [];
  private running: Promise<void> | undefined;

  add(what: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ what, run });
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
      await stopAllChildren();
    })();
    return this.running;
  }
}
