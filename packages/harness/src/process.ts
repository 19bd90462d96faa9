import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { cpuSeconds, type MemorySample, memoryOf } from "./usage.js";
import { sleep } from "./wait.js";

export interface StartOptions {
  /** Names the process in errors. */
  name: string;
  command: string;
  args?: string[];
  cwd?: string;
  /** The child's whole environment. Default: this process's. */
  env?: NodeJS.ProcessEnv;
  uid?: number;
  gid?: number;
  /** Explains how to install `command` when it is not found. */
  missing?: string;
  /** Each line the process writes, as it arrives. */
  onLine?: (line: string, stream: "stdout" | "stderr") => void;
  /**
   * "pipe" keeps a pipe to the child's stdin open: a child that exits when its stdin closes then
   * goes with this process however this process ends. `ManagedProcess.stdin` writes to it.
   */
  stdin?: "ignore" | "pipe";
  /** stderr straight to this process's stderr instead of through `onLine` and the kept output. */
  inheritStderr?: boolean;
  /** Sent if this process exits while the child still runs. Default SIGKILL. */
  exitSignal?: NodeJS.Signals;
  /** How much of its output to keep for `output()` and `waitForOutput`. Default 64,000 characters. */
  keepChars?: number;
}

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process this process owns: started, waited on, measured and stopped one way. */
export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly running: boolean;
  /** Resolves once the process has exited, however (also when it could not be started). */
  readonly exited: Promise<Exit>;
  /** The last `keepChars` characters it wrote to stdout and stderr. */
  output(): string;
  /** Resolves once `ready()` is true; throws, quoting the output, if it exits first or takes too long. */
  waitUntilReady(ready: () => Promise<boolean>, timeoutMs?: number): Promise<void>;
  /** Waits until its output matches `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** CPU seconds it has used so far (all threads). */
  cpuSeconds(): number;
  /** Its resident memory now; undefined once it has exited. */
  memory(): MemorySample | undefined;
  /** Sends `signal` (default SIGTERM), then SIGKILL after `graceMs`; resolves once it has exited. */
  stop(signal?: NodeJS.Signals, graceMs?: number): Promise<Exit>;
}

const live = new Map<ChildProcess, NodeJS.Signals>();
let exitHookInstalled = false;

/** Last resort from a synchronous 'exit' handler, where nothing can be awaited. */
export function killAllProcessesNow(): void {
  for (const [child, signal] of live) child.kill(signal);
}

/** Stops every process started here that still runs (SIGTERM, then SIGKILL). */
export async function stopAllProcesses(graceMs = 5_000): Promise<void> {
  await Promise.all([...live.keys()].map((child) => stopChild(child, "SIGTERM", graceMs)));
}

/** `node [nodeArgs] --import tsx <entry>`: a TypeScript entry run in-process, so its pid is the program itself. */
export function tsxCommand(entry: string, nodeArgs: string[] = []): { command: string; args: string[] } {
  return { command: process.execPath, args: [...nodeArgs, "--import", "tsx", entry] };
}

export function startProcess(options: StartOptions): ManagedProcess {
  const { name, command, args = [], keepChars = 64_000, exitSignal = "SIGKILL" } = options;
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env,
    uid: options.uid,
    gid: options.gid,
    stdio: [options.stdin ?? "ignore", "pipe", options.inheritStderr ? "inherit" : "pipe"],
  });
  let text = "";
  const keep = (line: string) => {
    text = `${text}${line}\n`;
    if (text.length > keepChars) text = text.slice(-keepChars);
  };
  for (const stream of ["stdout", "stderr"] as const) {
    onLines(child[stream], (line) => {
      keep(line);
      options.onLine?.(line, stream);
    });
  }
  let spawnError: string | undefined;
  const exited = new Promise<Exit>((resolve) => {
    child.on("error", (err: NodeJS.ErrnoException) => {
      if (child.pid !== undefined) {
        // A running child's error (a signal that could not be sent): worth quoting, not an exit.
        keep(`${name}: ${err.message}`);
        return;
      }
      spawnError =
        err.code === "ENOENT"
          ? `${command} not found${options.missing ? `: ${options.missing}` : ""}`
          : `cannot run ${command}: ${err.message}`;
      keep(spawnError);
      resolve({ code: null, signal: null });
    });
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  live.set(child, exitSignal);
  void exited.then(() => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", killAllProcessesNow);
  }
  let exit: Exit | undefined;
  void exited.then((e) => {
    exit = e;
  });
  const describeExit = () =>
    spawnError ?? `exited (${exit?.signal ?? `exit code ${exit?.code ?? child.exitCode}`})`;

  /** True once `ready()` is; false on timeout; throws, quoting the output, if the process exits first. */
  const poll = async (ready: () => Promise<boolean>, timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!managed.running) break;
      if (await ready().catch(() => false)) return true;
      if (!managed.running) break;
      if (Date.now() > deadline) return false;
      await sleep(20);
    }
    // Let the last output arrive before quoting it.
    await Promise.race([exited, sleep(200)]);
    await sleep(20);
    throw new Error(
      `${name} ${describeExit()} while waiting for ${what}:\n${managed.output() || "(no output)"}`,
    );
  };
  const managed: ManagedProcess = {
    name,
    child,
    pid: child.pid ?? 0,
    get running() {
      return exit === undefined && spawnError === undefined;
    },
    exited,
    output: () => text.trim(),
    async waitUntilReady(ready, timeoutMs = 30_000) {
      if (await poll(ready, timeoutMs, "readiness")) return;
      // Not ready in time: a half-started server is of no use to anyone.
      await stopChild(child, "SIGKILL", 0);
      throw new Error(
        `${name}: not ready within ${timeoutMs} ms (killed):\n${managed.output() || "(no output)"}`,
      );
    },
    async waitForOutput(pattern, timeoutMs = 30_000) {
      let match: RegExpExecArray | null = null;
      const found = await poll(
        async () => {
          match = pattern.exec(text);
          return match !== null;
        },
        timeoutMs,
        `output matching ${pattern}`,
      );
      if (!found || !match) {
        throw new Error(
          `${name}: no output matching ${pattern} within ${timeoutMs} ms:\n${managed.output()}`,
        );
      }
      return match;
    },
    cpuSeconds: () => cpuSeconds(managed.pid),
    memory: () => memoryOf(managed.pid),
    async stop(signal = "SIGTERM", graceMs = 5_000) {
      await stopChild(child, signal, graceMs);
      return exited;
    },
  };
  return managed;
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

/** Calls `handle` with each line of `stream`. */
export function onLines(stream: Readable | null, handle: (line: string) => void): void {
  if (!stream) return;
  createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", handle);
}
