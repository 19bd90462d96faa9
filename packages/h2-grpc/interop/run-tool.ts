import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ToolRun {
  code: number;
  stdout: string;
  /** stdout as it came, for a tool that writes a binary body there. */
  stdoutBytes: Buffer;
  stderr: string;
}

/** Runs a program to its end (killed after `timeoutMs`) and returns its exit code and output. */
export function runTool(
  binary: string,
  args: string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      args,
      {
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 30_000,
        maxBuffer: 64 * 1024 * 1024,
        encoding: "buffer",
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code !== "number") {
          reject(new Error(`${binary} ${args.join(" ")} failed (${err.message}):\n${stderr}`));
          return;
        }
        resolve({
          code: typeof err?.code === "number" ? err.code : 0,
          stdout: stdout.toString(),
          stdoutBytes: stdout,
          stderr: stderr.toString(),
        });
      },
    );
  });
}

/** A directory of this test's own for a tool's files, removed afterwards. */
export async function withTempDir<T>(use: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), "h2-interop-"));
  try {
    return await use(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Writes `bytes` to `name` in `dir` and returns its path. */
export async function writeBody(dir: string, name: string, bytes: Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, bytes);
  return path;
}
