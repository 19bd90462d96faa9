import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";

const entry = fileURLToPath(new URL("../src/run.ts", import.meta.url));

function startProcess(env: Record<string, string>) {
  const child = spawn(process.execPath, ["--import", "tsx", entry], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe("the backend process", () => {
  test("refuses a bad PORT with a message naming it, before binding anything", async () => {
    const proc = startProcess({ PORT: "not-a-port" });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('PORT: must be a whole number from 0 to 65535 (got "not-a-port")');
    expect(proc.output()).not.toContain("listening");
  });

  test("serves, and on SIGTERM stops and exits 0", async () => {
    const proc = startProcess({ PORT: "0", HOST: "127.0.0.1" });
    try {
      await expect.poll(() => proc.output(), { timeout: 15_000 }).toContain("backend-service listening");
      const port = Number(/"port":(\d+)/.exec(proc.output())?.[1]);
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
      proc.child.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toContain('"signal":"SIGTERM"');
    } finally {
      proc.child.kill("SIGKILL");
    }
  });
});
