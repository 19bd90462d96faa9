import { spawn } from "node:child_process";
import { join } from "node:path";
import { REPO_ROOT } from "./gateway.js";

/** Runs the repository's test-api.sh, unchanged, with these settings; resolves with its exit code and output. */
export function runTestApi(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn("bash", [join(REPO_ROOT, "test-api.sh")], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, output })));
}
