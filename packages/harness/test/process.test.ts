import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { Cleanup, freePort, portOpen, startProcess } from "../src/index.js";

/** A node child running `source`: what a service or a helper server would be. */
const node = (name: string, source: string, env?: NodeJS.ProcessEnv) =>
  startProcess({ name, command: process.execPath, args: ["-e", source], env });

describe("a managed process", () => {
  it("is ready once its port is open, and stops on SIGTERM", async () => {
    const port = await freePort();
    const server = node(
      "server",
      `setTimeout(() => require("node:net").createServer().listen(${port}, "127.0.0.1"), 300);`,
    );
    expect(await portOpen(port)).toBe(false);
    await server.waitUntilReady(() => portOpen(port), 10_000);
    expect(server.running).toBe(true);
    expect(server.cpuSeconds()).toBeGreaterThan(0);
    expect(server.memory()?.rssKiB).toBeGreaterThan(1_000);
    expect(await server.stop()).toEqual({ code: null, signal: "SIGTERM" });
    expect(server.running).toBe(false);
    expect(server.memory()).toBeUndefined();
  });

  it("gets the environment it is given and hands over its output by line", async () => {
    const lines: string[] = [];
    const child = startProcess({
      name: "printer",
      command: process.execPath,
      args: ["-e", 'console.log("a"); console.error("b " + process.env.WORD); setInterval(() => {}, 1000);'],
      env: { WORD: "word" },
      onLine: (line, stream) => lines.push(`${stream}: ${line}`),
    });
    const match = await child.waitForOutput(/b (\w+)/, 10_000);
    expect(match[1]).toBe("word");
    expect(lines.sort()).toEqual(["stderr: b word", "stdout: a"]);
    await child.stop();
  });

  it("is killed after the grace period when it ignores SIGTERM", async () => {
    const stubborn = node(
      "stubborn",
      'process.on("SIGTERM", () => {}); console.log("up"); setInterval(() => {}, 1000);',
    );
    await stubborn.waitForOutput(/up/, 10_000);
    const started = Date.now();
    expect(await stubborn.stop("SIGTERM", 300)).toEqual({ code: null, signal: "SIGKILL" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });

  it("fails the wait with its exit and its output when it dies during start", async () => {
    const failing = node("failing", 'console.error("no config: DATABASE_URL is required"); process.exit(3);');
    await expect(failing.waitUntilReady(async () => false, 10_000)).rejects.toThrow(
      /failing exited \(exit code 3\) while waiting for readiness:\nno config: DATABASE_URL is required/,
    );
  });

  it("is killed when it is not ready in time", async () => {
    const slow = node("slow", "setInterval(() => {}, 1000);");
    await expect(slow.waitUntilReady(async () => false, 200)).rejects.toThrow(
      /slow: not ready within 200 ms/,
    );
    expect((await slow.exited).signal).toBe("SIGKILL");
  });

  it("names a binary that is not installed and how to get it", async () => {
    const missing = startProcess({
      name: "tool",
      command: "no-such-binary-here",
      missing: "apt-get install it",
    });
    await expect(missing.waitUntilReady(async () => false, 5_000)).rejects.toThrow(
      /no-such-binary-here not found: apt-get install it/,
    );
    expect(missing.running).toBe(false);
  });
});

describe("cleanup", () => {
  it("undoes newest first, once, and goes on past a step that fails", async () => {
    const cleanup = new Cleanup();
    const done: string[] = [];
    const dir = cleanup.tempDir("harness-test-");
    const listener = createServer().listen(0, "127.0.0.1");
    cleanup.add("close the listener", () => new Promise((resolve) => listener.close(resolve)));
    cleanup.add("first", () => done.push("first"));
    cleanup.add("run a broken step", () => {
      throw new Error("broken on purpose");
    });
    cleanup.add("last", () => done.push("last"));
    const child = node("child", "setInterval(() => {}, 1000);");
    await Promise.all([cleanup.runAll(), cleanup.runAll()]);
    expect(done).toEqual(["last", "first"]);
    expect(existsSync(dir)).toBe(false);
    expect(listener.listening).toBe(false);
    // Whatever the steps forgot, the processes started here are stopped too.
    expect(child.running).toBe(false);
  });
});
