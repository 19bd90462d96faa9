import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmdirSync, statSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL(".", import.meta.url));
export const distDir = `${root}dist`;
const lock = `${root}.build-lock`;

const newest = (path: string): number => {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(`${path}/${name}`)));
};

const builtAt = (): number => {
  try {
    return statSync(`${distDir}/index.html`).mtimeMs;
  } catch {
    return 0;
  }
};

const stale = () =>
  builtAt() < Math.max(newest(`${root}src`), newest(`${root}index.html`), newest(`${root}vite.config.ts`));

/**
 * Builds console/dist with vite when a source is newer than it (pnpm stack and the console tests);
 * one process at a time builds, the others wait for it.
 */
export async function ensureBuilt(): Promise<void> {
  if (!stale()) return;
  for (let waited = 0; ; waited += 200) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (waited > 60_000) rmdirSync(lock);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    if (stale()) {
      execFileSync(
        process.execPath,
        [`${root}node_modules/vite/bin/vite.js`, "build", "--logLevel", "warn"],
        {
          cwd: root,
          stdio: "inherit",
        },
      );
    }
  } finally {
    rmdirSync(lock);
  }
}
