import { type ChildProcess, type SpawnOptions, spawn } from "node:child_process";
import { createServer } from "node:net";

/** A TCP port on 127.0.0.1 that nothing listens on right now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** The last lines a child process wrote, to quote when it fails. */
export class OutputTail {
  private text = "";

  constructor(private readonly maxChars = 4_000) {}

  push(chunk: Buffer | string): void {
    this.text = (this.text + String(chunk)).slice(-this.maxChars);
  }

  toString(): string {
    return this.text.trim();
  }
}

export interface Supervised {
  child: ChildProcess;
  output: OutputTail;
}

/**
 * Spawns a server process that this test process owns: its output is kept for error messages, and
 * it is sent `exitSignal` if the test process exits first. `missing` explains a binary not found.
 */
export function spawnServer(
  binary: string,
  args: string[],
  options: SpawnOptions & { missing: string; exitSignal?: NodeJS.Signals },
): Supervised {
  const { missing, exitSignal = "SIGKILL", ...spawnOptions } = options;
  const output = new OutputTail();
  const child = spawn(binary, args, { ...spawnOptions, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout?.on("data", (chunk) => output.push(chunk));
  child.stderr?.on("data", (chunk) => output.push(chunk));
  child.on("error", (err: NodeJS.ErrnoException) => {
    output.push(
      err.code === "ENOENT" ? `${binary} not found: ${missing}` : `cannot run ${binary}: ${err.message}`,
    );
  });
  const killOnExit = () => child.kill(exitSignal);
  process.once("exit", killOnExit);
  child.once("close", () => process.removeListener("exit", killOnExit));
  return { child, output };
}

/**
 * Resolves once `ready()` is true; rejects, naming `what` and quoting its output, if the process
 * could not be spawned, exited first, or was not ready in time (then it is killed).
 */
export async function waitUntilReady(
  { child, output }: Supervised,
  what: string,
  ready: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  let failure: string | null = null;
  const onError = () => {
    failure = "could not be started";
  };
  const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
    failure = `exited during start (${signal ?? `exit code ${code}`})`;
  };
  child.once("error", onError);
  child.once("exit", onExit);
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (failure) break;
      if (await ready()) return;
      if (failure) break;
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        failure = `was not ready within ${timeoutMs} ms`;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Let the last output and the exit status arrive before quoting them.
    await new Promise((resolve) => setTimeout(resolve, 50));
    throw new Error(`${what} ${failure}:\n${output.toString() || "(no output)"}`);
  } finally {
    child.removeListener("error", onError);
    child.removeListener("exit", onExit);
  }
}

/** Sends `signal`, then SIGKILL after `killAfterMs`; resolves once the process has exited. */
export function terminate(child: ChildProcess, signal: NodeJS.Signals, killAfterMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), killAfterMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}
