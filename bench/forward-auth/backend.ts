import { join } from "node:path";
import { type Cleanup, freePort, httpAnswers, type ManagedProcess, startProcess } from "@gateway/harness";

/**
 * backend-service from the working tree, in its own process. It logs a line per request: sent to
 * /dev/null by the shell that execs node, so the benchmark does not spend CPU reading it (the pid is
 * node's own).
 */
export async function startBackend(
  cleanup: Cleanup,
  repoRoot: string,
): Promise<{ process: ManagedProcess; port: number }> {
  const port = await freePort();
  const entry = join(repoRoot, "backend-service/src/run.ts");
  const backend = startProcess({
    name: "backend-service",
    command: "sh",
    args: ["-c", 'exec "$0" --import tsx "$1" > /dev/null', process.execPath, entry],
    cwd: repoRoot,
    env: { ...process.env, PORT: String(port), HOST: "127.0.0.1" },
  });
  cleanup.add("stop backend-service", () => backend.stop());
  await backend.waitUntilReady(() => httpAnswers(`http://127.0.0.1:${port}/health`), 60_000);
  return { process: backend, port };
}
