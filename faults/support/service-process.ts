import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

/** A service of this repository run as its own process, as a container would run it. */
export interface ServiceProcess {
  child: ChildProcess;
  /** Everything it wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the process has exited, however. */
  exited: Promise<void>;
  /** Waits until its output matches `pattern`; throws with the output if it exits or takes too long. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Sends `signal` (SIGKILL: no chance to flush or drain) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** `node --import tsx <entry>` from the repository root, with only PATH and `env` in its environment. */
export function startServiceProcess(entry: string, env: Record<string, string>): ServiceProcess {
  const child = spawn(process.execPath, ["--import", "tsx", entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  const running = () => child.exitCode === null && child.signalCode === null;
  return {
    child,
    output: () => output,
    exited,
    async waitForOutput(pattern, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const match = pattern.exec(output);
        if (match) return match;
        if (!running()) throw new Error(`${entry} exited before printing ${pattern}:\n${output}`);
        if (Date.now() > deadline) throw new Error(`${entry} did not print ${pattern}:\n${output}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async kill(signal = "SIGTERM") {
      if (running()) child.kill(signal);
      await exited;
    },
  };
}

export const serviceEntry = {
  apiKeyService: "api-key-service/src/run.ts",
  billingSidecar: "billing-sidecar/src/run.ts",
} as const;

export { freePort } from "../../packages/testing/src/child-process.js";
