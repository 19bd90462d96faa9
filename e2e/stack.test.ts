import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, freePort, type TestServices, test } from "@gateway/testing";

const root = fileURLToPath(new URL("..", import.meta.url));

/**
 * Runs a command in a process group of its own: `kill()` ends it and everything it started (the
 * stack's services and gateway), so a failed test leaves nothing running.
 */
function run(command: string, args: string[], env: Record<string, string>) {
  const child = spawn(command, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const kill = () => {
    try {
      if (child.pid) process.kill(-child.pid, "SIGKILL");
    } catch {
      // The group is gone already.
    }
  };
  return { child, output: () => output, exited, kill };
}

/**
 * A PATH holding only these programs, so that which gateway the stack finds does not depend on the
 * machine: never an envoy binary here. (nginx's start.sh needs bash, dirname and mkdir.)
 */
function pathWith(programs: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "stack-path-"));
  for (const program of ["bash", "dirname", "mkdir", ...programs]) {
    symlinkSync(
      execFileSync("bash", ["-c", `command -v ${program}`], { encoding: "utf8" }).trim(),
      join(dir, program),
    );
  }
  return dir;
}

/**
 * Where stackPorts() picks from: below freePort()'s default range, the 12,000 ports under the kernel's
 * ephemeral ones (20,768-32,767 with Linux's default 32,768 as their start).
 */
const STACK_PORTS_FROM = 12_000;
const STACK_PORTS_TO = 17_000;

/**
 * The stack's seven ports: distinct, and from a range no other test picks from. Its processes bind
 * them seconds later, and a port another test's freePort() took meanwhile made one of them fail,
 * which stops the whole stack.
 */
async function stackPorts(): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < 7) ports.add(await freePort({ from: STACK_PORTS_FROM, to: STACK_PORTS_TO }));
  return [...ports];
}

async function stackEnv(services: TestServices, path: string) {
  const [api, grpc, auth, als, sidecar, backend, gateway] = (await stackPorts()).map(String);
  return {
    PATH: path,
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    REDIS_KEY_PREFIX: services.redisPrefix,
    ADMIN_TOKEN: randomBytes(32).toString("hex"),
    API_HTTP_PORT: api as string,
    API_GRPC_PORT: grpc as string,
    API_AUTH_PORT: auth as string,
    SIDECAR_ALS_PORT: als as string,
    SIDECAR_HTTP_PORT: sidecar as string,
    BACKEND_PORT: backend as string,
    GATEWAY_PORT: gateway as string,
    // Usage billed from checks appears once its minute has ended: the shortest waits after that.
    AUTHZ_FLUSH_INTERVAL: "1s",
    CHECKS_POLL_INTERVAL: "1s",
    CHECKS_SETTLE: "2s",
    LOG_LEVEL: "warn",
  };
}

describe("pnpm stack without an envoy binary", () => {
  // Three Node processes compiling TypeScript at start, then usage billed from checks, which appears
  // once the minute of the requests has ended: on a loaded two-core machine that takes a while.
  test("puts nginx in front, says so, passes all of test-api.sh through it, and stops on Ctrl-C", {
    timeout: 240_000,
  }, async ({ services, onTestFailed }) => {
    const env = await stackEnv(services, pathWith(["nginx", "caddy"]));
    const gateway = `http://127.0.0.1:${env.GATEWAY_PORT}`;
    const stack = run(process.execPath, ["--import", "tsx", "scripts/stack.ts"], env);
    onTestFailed(() => console.error(`pnpm stack printed:\n${stack.output()}`));
    try {
      await expect.poll(stack.output, { timeout: 90_000, interval: 200 }).toContain("The stack is up");
      expect(stack.output()).toMatch(new RegExp(`gateway +nginx +${gateway} \\(gateways/nginx/nginx.conf`));

      const check = run("bash", ["test-api.sh"], {
        API_URL: `http://127.0.0.1:${env.API_HTTP_PORT}`,
        GATEWAY_URL: gateway,
        ADMIN_TOKEN: env.ADMIN_TOKEN,
        USAGE_TIMEOUT: "100",
      });
      expect(await check.exited, check.output()).toBe(0);
      expect(check.output()).toContain("14 passed, 0 failed");

      stack.child.kill("SIGINT");
      expect(await stack.exited).toBe(0);
      // nginx went with it.
      await expect(fetch(`${gateway}/health`)).rejects.toThrow();
    } finally {
      stack.kill();
    }
  });

  test("puts Caddy in front when nginx is missing too", { timeout: 120_000 }, async ({
    services,
    onTestFailed,
  }) => {
    const env = await stackEnv(services, pathWith(["caddy"]));
    const gateway = `http://127.0.0.1:${env.GATEWAY_PORT}`;
    const stack = run(process.execPath, ["--import", "tsx", "scripts/stack.ts"], env);
    onTestFailed(() => console.error(`pnpm stack printed:\n${stack.output()}`));
    try {
      await expect.poll(stack.output, { timeout: 90_000, interval: 200 }).toContain("The stack is up");
      expect(stack.output()).toMatch(new RegExp(`gateway +caddy +${gateway} \\(gateways/caddy/Caddyfile`));
      // The console's address is printed, and it is served (built by the stack when missing).
      const consoleUrl = `http://127.0.0.1:${env.API_HTTP_PORT}/console`;
      expect(stack.output()).toMatch(new RegExp(`console +${consoleUrl} `));
      const page = await fetch(`${consoleUrl}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('<div id="app"');

      const created = await fetch(`http://127.0.0.1:${env.API_HTTP_PORT}/api/keys`, {
        method: "POST",
        headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "application/json" },
        body: JSON.stringify({ user_id: "stack-caddy", name: "stack test" }),
      });
      expect(created.status).toBe(201);
      const key = (await created.json()) as { id: string; key: string };
      const allowed = await fetch(`${gateway}/hello`, { headers: { authorization: `Bearer ${key.key}` } });
      expect(allowed.status).toBe(200);
      expect(((await allowed.json()) as { api_key_id: string }).api_key_id).toBe(key.id);
      expect((await fetch(`${gateway}/hello`)).status).toBe(401);

      stack.child.kill("SIGINT");
      expect(await stack.exited).toBe(0);
    } finally {
      stack.kill();
    }
  });

  test("a process that cannot start stops the stack: it exits 1, names it, and never says it is up", {
    timeout: 120_000,
  }, async ({ services, onTestFailed }) => {
    const env = await stackEnv(services, pathWith(["caddy"]));
    // The sidecar's HTTP port is the one api-key-service's forward-auth endpoint has already taken.
    env.SIDECAR_HTTP_PORT = env.API_AUTH_PORT;
    const stack = run(process.execPath, ["--import", "tsx", "scripts/stack.ts"], env);
    onTestFailed(() => console.error(`pnpm stack printed:\n${stack.output()}`));
    try {
      expect(await stack.exited).toBe(1);
      expect(stack.output()).toContain("[sidecar] exited (1); stopping the stack");
      expect(stack.output()).not.toContain("The stack is up");
      // Everything it started went with it.
      await expect(fetch(`http://127.0.0.1:${env.API_HTTP_PORT}/health`)).rejects.toThrow();
    } finally {
      stack.kill();
    }
  });
});
