import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export const repoPath = (...parts: string[]) => join(REPO_ROOT, ...parts);

export const readRepoFile = (relative: string) => readFileSync(repoPath(relative), "utf8");

/** Files directly in a repository folder whose names end in one of the extensions. */
export function repoFiles(folder: string, extensions: string[]): string[] {
  const dir = repoPath(folder);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => !f.split(/[\\/]/).includes("node_modules"))
    .filter((f) => extensions.some((e) => f.endsWith(e)))
    .map((f) => join(folder, f))
    .sort();
}
