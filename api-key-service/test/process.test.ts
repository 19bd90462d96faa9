import { type ChildProcess, spawn } from "node:child_process";
import { request } from "node:http";
import { fileURLToPath } from "node:url";
import { ADMIN_TOKEN, describe, expect, test } from "./fixtures.js";

const entry = fileURLToPath(new URL("../src/run.ts", import.meta.url));

function startProcess(env: Record<string, string>): {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ["--import", "tsx", entry], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("the service process", () => {
  test("refuses to start with a short admin token, naming the variable, before binding a port", async ({
    services,
  }) => {
    const proc = startProcess({
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      ADMIN_TOKEN: "too-short",
      HTTP_PORT: "0",
      GRPC_PORT: "0",
      AUTH_HTTP_PORT: "0",
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain("ADMIN_TOKEN: must be at least 32 characters");
    expect(proc.output()).not.toContain("listening");
    expect(proc.output()).not.toContain("too-short");
  });

  test("starts, serves, and on SIGTERM finishes in-flight work and exits 0", async ({ services }) => {
    const proc = startProcess({
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      ADMIN_TOKEN,
      HTTP_PORT: "0",
      GRPC_PORT: "0",
      AUTH_HTTP_PORT: "0",
      HOST: "127.0.0.1",
    });
    try {
      await waitFor(() => proc.output().includes("api-key-service listening"), 15_000);
      const port = Number(/"http_port":(\d+)/.exec(proc.output())?.[1]);
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      expect(health.status).toBe(200);

      // A request whose body is still arriving when SIGTERM lands must still be answered.
      const body = JSON.stringify({ user_id: "late", name: "in flight" });
      const req = request({
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/api/keys",
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          "content-type": "application/json",
          "content-length": body.length,
        },
      });
      const answered = new Promise<number | undefined>((resolve, reject) => {
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode);
        });
        req.on("error", reject);
      });
      req.write(body.slice(0, 10));
      await new Promise((r) => setTimeout(r, 200));
      proc.child.kill("SIGTERM");
      await waitFor(() => proc.output().includes('"signal":"SIGTERM"'), 5_000);
      req.end(body.slice(10));
      expect(await answered).toBe(201);
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toContain('"signal":"SIGTERM"');
    } finally {
      proc.child.kill("SIGKILL");
    }
  });
});
