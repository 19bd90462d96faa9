import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "@gateway/testing";

const root = fileURLToPath(new URL("..", import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  return typeof address === "object" && address ? address.port : 0;
}

function run(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return { child, output: () => output, exited };
}

describe("pnpm stack", () => {
  // Three Node processes compiling TypeScript at start: on a loaded two-core machine that takes a while.
  test("starts the services without Docker, passes test-api.sh's steps that need no proxy, and stops on Ctrl-C", {
    timeout: 120_000,
  }, async ({ services }) => {
    const token = randomBytes(32).toString("hex");
    const apiPort = await freePort();
    const stack = run(process.execPath, ["--import", "tsx", "scripts/stack.ts"], {
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      REDIS_KEY_PREFIX: services.redisPrefix,
      ADMIN_TOKEN: token,
      API_HTTP_PORT: String(apiPort),
      API_GRPC_PORT: String(await freePort()),
      SIDECAR_ALS_PORT: String(await freePort()),
      SIDECAR_HTTP_PORT: String(await freePort()),
      BACKEND_PORT: String(await freePort()),
      LOG_LEVEL: "warn",
    });
    try {
      await expect.poll(stack.output, { timeout: 90_000, interval: 200 }).toContain("The stack is up");
      expect(stack.output()).toContain(`http://127.0.0.1:${apiPort}`);
      expect(stack.output()).toMatch(/gateway +(not running: no envoy binary|http)/);

      const check = run("bash", ["test-api.sh"], {
        API_URL: `http://127.0.0.1:${apiPort}`,
        ADMIN_TOKEN: token,
        SKIP_GATEWAY: "1",
      });
      expect(await check.exited, check.output()).toBe(0);
      expect(check.output()).toContain("6 passed, 0 failed");

      stack.child.kill("SIGINT");
      expect(await stack.exited).toBe(0);
    } finally {
      stack.child.kill("SIGKILL");
    }
  });
});
