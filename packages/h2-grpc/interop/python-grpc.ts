import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { PYTHON } from "./tools.js";

const SCRIPT = fileURLToPath(new URL("grpc_client.py", import.meta.url));

/** How one call made by gRPC's C core ended, as grpc_client.py reports it. */
export interface CallOutcome {
  /** grpc.StatusCode's name: OK, DEADLINE_EXCEEDED, UNAVAILABLE… */
  code: string;
  details?: string;
  /** The answer's bytes, base64 (OK only). */
  response?: string;
  initial_metadata?: [string, string][];
  trailing_metadata?: [string, string][];
}

/** One call for grpc_client.py: request bytes, deadline in seconds, metadata. */
export interface CallSpec {
  path: string;
  request: Buffer;
  timeout?: number;
  metadata?: [string, string][];
  /** Make this call so many times in a row (scenario "calls"). */
  repeat?: number;
  /** Seconds to wait before making it (scenario "calls"). */
  pause?: number;
  /** Send the message gzip-compressed. */
  gzip?: boolean;
  /** A server-streaming call (scenario "cancel"). */
  stream?: boolean;
}

export interface PythonJob {
  target: string;
  scenario: "calls" | "concurrent" | "keepalive" | "shutdown" | "cancel";
  /** gRPC channel arguments, e.g. ["grpc.keepalive_time_ms", 100]. */
  options?: [string, string | number][];
  calls?: CallSpec[];
  call?: CallSpec;
  count?: number;
  seconds?: number;
  after?: number;
}

/** A gRPC target on 127.0.0.1. */
export const target = (port: number) => `127.0.0.1:${port}`;

/** The answer's bytes of a call that ended OK; throws with the status otherwise. */
export function answerOf(outcome: CallOutcome): Buffer {
  if (outcome.code !== "OK" || outcome.response === undefined)
    throw new Error(`the call ended ${outcome.code}: ${outcome.details ?? ""}`);
  return Buffer.from(outcome.response, "base64");
}

const wire = (call: CallSpec) => ({ ...call, request: call.request.toString("base64") });

/**
 * Runs grpc_client.py with Debian's Python on one job and resolves with its result. `onEvent` is
 * called for each event line the script writes; calling `resume` lets a waiting script go on. The
 * script is killed, and the promise rejected with its output, if it has not finished in time.
 */
export function runPython<R>(
  job: PythonJob,
  options: { timeoutMs?: number; onEvent?: (event: string, resume: () => void) => void | Promise<void> } = {},
): Promise<R> {
  const { timeoutMs = 30_000, onEvent } = options;
  const child = spawn(PYTHON, [SCRIPT], { stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  let result: R | undefined;
  return new Promise<R>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`grpc_client.py (${job.scenario}) did not finish within ${timeoutMs} ms:\n${stderr}`));
    }, timeoutMs);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${PYTHON} (install Debian's python3-grpcio): ${err.message}`));
    });
    child.stderr.on("data", (chunk) => {
      stderr = (stderr + String(chunk)).slice(-8_000);
    });
    child.stdout.on("data", (chunk) => {
      stdout += String(chunk);
      for (let end = stdout.indexOf("\n"); end >= 0; end = stdout.indexOf("\n")) {
        const line = JSON.parse(stdout.slice(0, end)) as { event?: string; result?: R };
        stdout = stdout.slice(end + 1);
        if (line.event !== undefined) {
          Promise.resolve(onEvent?.(line.event, () => child.stdin.write("go\n"))).catch((err: unknown) => {
            clearTimeout(timer);
            child.kill("SIGKILL");
            reject(err);
          });
        }
        if ("result" in line) result = line.result;
      }
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`grpc_client.py (${job.scenario}) exited with ${code}:\n${stderr}`));
    });
    child.stdin.write(
      `${JSON.stringify({
        ...job,
        calls: job.calls?.map(wire),
        call: job.call && wire(job.call),
      })}\n`,
    );
  });
}
