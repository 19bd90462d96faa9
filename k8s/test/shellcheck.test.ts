import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { describe, expect, test } from "vitest";
import { REPO_ROOT } from "./manifests.js";

const SKIP_DIRS = new Set(["node_modules", ".git", "dist", "coverage"]);

/** Every *.sh in the repository outside node_modules (test-api.sh and k8s/*.sh among them). */
function shellScripts(dir = REPO_ROOT): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return SKIP_DIRS.has(entry.name) ? [] : shellScripts(path);
    return entry.name.endsWith(".sh") ? [path] : [];
  });
}

function shellcheck(files: string[]) {
  // Every severity, style included: a finding of any kind fails.
  return spawnSync("shellcheck", ["--severity=style", "--format=gcc", "--external-sources", ...files], {
    cwd: REPO_ROOT,
    encoding: "utf8",
  });
}

const installed = spawnSync("shellcheck", ["--version"]).status === 0;

describe("shell scripts", () => {
  test("shellcheck is installed (CI installs it: apt-get install shellcheck)", () => {
    expect(
      installed,
      "shellcheck is not installed: apt-get install shellcheck (or brew install shellcheck)",
    ).toBe(true);
  });

  test("the scripts this package ships are among those checked", () => {
    const found = shellScripts().map((f) => relative(REPO_ROOT, f));
    expect(found).toEqual(
      expect.arrayContaining(["test-api.sh", "k8s/deploy.sh", "k8s/test.sh", "k8s/cleanup.sh"]),
    );
  });

  test.runIf(installed)("every *.sh in the repository passes shellcheck with no finding", () => {
    const result = shellcheck(shellScripts());
    expect(result.stdout + result.stderr).toBe("");
    expect(result.status).toBe(0);
  });

  test.runIf(installed)("a finding fails the check", () => {
    const file = join(mkdtempSync(join(tmpdir(), "shellcheck-")), "bad.sh");
    writeFileSync(file, "#!/usr/bin/env bash\nrm -rf $1/tmp\n");
    const result = shellcheck([file]);
    expect(result.status).not.toBe(0);
    expect(result.stdout).toContain("SC2086");
  });
});
