import { fileURLToPath } from "node:url";
import { type ManagedProcess, startProcess, tsxCommand } from "@gateway/harness";

const repoRoot = fileURLToPath(new URL("../../", import.meta.url));

export const serviceEntry = {
  apiKeyService: "api-key-service/src/run.ts",
  billingSidecar: "billing-sidecar/src/run.ts",
} as const;

/**
 * A service of this repository run as its own process, as a container would run it:
 * `node --import tsx <entry>` from the repository root, with only PATH and `env` in its environment.
 */
export function startServiceProcess(entry: string, env: Record<string, string>): ManagedProcess {
  return startProcess({
    name: entry,
    ...tsxCommand(entry),
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? "", ...env },
  });
}
