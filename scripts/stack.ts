// pnpm stack: the gateway's Node services on this machine, against local Postgres and Redis, without
// Docker, and a real gateway in front of backend-service: Envoy when an `envoy` binary is on the PATH,
// else nginx, else Caddy, on their shipped configurations (docs/GATEWAYS.md). Prints the URLs and the
// admin token, and stops everything on Ctrl-C. Ports and URLs can be changed through the environment
// (see below).
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { SERVICE_NODE_FLAGS } from "../api-key-service/src/node-flags.js";
import { ensureBuilt as ensureConsoleBuilt } from "../console/ensure-built.js";

const env = process.env;
const DATABASE_URL = env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/gateway";
const REDIS_URL = env.REDIS_URL ?? "redis://127.0.0.1:6379";
const ADMIN_TOKEN = env.ADMIN_TOKEN ?? randomBytes(32).toString("hex");
// As deployed: the two gRPC ports take only calls carrying it, which Envoy sends.
const INTERNAL_TOKEN = env.INTERNAL_TOKEN ?? randomBytes(32).toString("hex");
const ports = {
  api: Number(env.API_HTTP_PORT ?? 8080),
  grpc: Number(env.API_GRPC_PORT ?? 9001),
  forwardAuth: Number(env.API_AUTH_PORT ?? 9003),
  als: Number(env.SIDECAR_ALS_PORT ?? 9002),
  sidecar: Number(env.SIDECAR_HTTP_PORT ?? 9091),
  backend: Number(env.BACKEND_PORT ?? 3000),
  gateway: Number(env.GATEWAY_PORT ?? 8000),
  gatewayTls: Number(env.GATEWAY_TLS_PORT ?? 8443),
};

const children: { name: string; child: ChildProcess }[] = [];

function start(
  name: string,
  entry: string,
  extraEnv: Record<string, string>,
  nodeFlags: readonly string[] = [],
): ChildProcess {
  if (stopping) throw new Error(`not starting ${name}: a process exited and the stack is stopping`);
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", entry], {
    env: { ...env, LOG_LEVEL: env.LOG_LEVEL ?? "info", ...extraEnv },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const prefix = `[${name}] `;
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString().split("\n")) if (line) process.stdout.write(`${prefix}${line}\n`);
    });
  }
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`${prefix}exited (${signal ?? code}); stopping the stack`);
      void stop(1);
    }
  });
  children.push({ name, child });
  return child;
}

/** The database named in DATABASE_URL is created on first use, so the stack needs no setup step. */
async function ensureDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new URL(url);
  admin.pathname = "/postgres";
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const { rowCount } = await client.query("select 1 from pg_database where datname = $1", [name]);
    if (rowCount === 0) await client.query(`create database "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

async function waitHealthy(name: string, url: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (
      await fetch(url).then(
        (r) => r.ok,
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${name} did not become healthy at ${url}`);
}

function onPath(binary: string, versionArgs: string[]): boolean {
  try {
    execFileSync(binary, versionArgs, { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

type GatewayKind = "envoy" | "nginx" | "caddy";

/** Envoy (gRPC Check and the access log) first; else the first HTTP gateway found. */
function chooseGateway(): GatewayKind | undefined {
  if (onPath("envoy", ["--version"])) return "envoy";
  if (onPath("nginx", ["-v"])) return "nginx";
  if (onPath("caddy", ["version"])) return "caddy";
  return undefined;
}

/**
 * envoy/envoy.yaml rendered as its container renders it (envoy/start.sh, with a self-signed
 * certificate from scripts/dev-cert.sh); it names services by their DNS names, here they are on
 * 127.0.0.1 and our ports.
 */
function localEnvoyConfig(): string {
  const dir = mkdtempSync(join(tmpdir(), "gateway-envoy-"));
  execFileSync("bash", ["scripts/dev-cert.sh", join(dir, "tls-source")], { stdio: "ignore" });
  const rendered = execFileSync("bash", ["envoy/start.sh", "--render-only"], {
    encoding: "utf8",
    env: {
      ...env,
      INTERNAL_TOKEN,
      ENVOY_TEMPLATE: "envoy/envoy.yaml",
      ENVOY_TLS_SOURCE: join(dir, "tls-source"),
      ENVOY_RUN_DIR: join(dir, "run"),
    },
  }).trim();
  const text = readFileSync(rendered, "utf8")
    .replace(/address: api-key-service, port_value: \d+/g, `address: 127.0.0.1, port_value: ${ports.grpc}`)
    .replace(/address: billing-sidecar, port_value: \d+/g, `address: 127.0.0.1, port_value: ${ports.als}`)
    .replace(/address: backend-service, port_value: \d+/g, `address: 127.0.0.1, port_value: ${ports.backend}`)
    .replace(/port_value: 8000\b/g, `port_value: ${ports.gateway}`)
    .replace(/port_value: 8443\b/g, `port_value: ${ports.gatewayTls}`)
    .replace(/type: STRICT_DNS/g, "type: STATIC");
  writeFileSync(rendered, text);
  return rendered;
}

/**
 * nginx or Caddy on the gateway port, on the shipped configuration (nginx through its start.sh, which
 * renders the template), asking api-key-service's forward-auth endpoint. Their files (nginx's prefix,
 * Caddy's autosaved config, which holds the token) go to a private directory removed on exit.
 */
function startHttpGateway(kind: "nginx" | "caddy"): void {
  if (stopping) throw new Error(`not starting ${kind}: a process exited and the stack is stopping`);
  const dir = mkdtempSync(join(tmpdir(), `gateway-${kind}-`));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const gatewayEnv = {
    ...env,
    GATEWAY_PORT: String(ports.gateway),
    FORWARD_AUTH_ADDR: `127.0.0.1:${ports.forwardAuth}`,
    BACKEND_ADDR: `127.0.0.1:${ports.backend}`,
    INTERNAL_TOKEN,
    ...(kind === "nginx" ? { NGINX_RUN_DIR: dir } : { XDG_CONFIG_HOME: dir, XDG_DATA_HOME: dir }),
  };
  const [file, args] =
    kind === "nginx"
      ? ["bash", ["gateways/nginx/start.sh"]]
      : ["caddy", ["run", "--config", "gateways/caddy/Caddyfile", "--adapter", "caddyfile"]];
  const child = spawn(file, args as string[], { env: gatewayEnv, stdio: ["ignore", "pipe", "pipe"] });
  // Caddy logs its start-up as JSON and nginx logs each refusal it rebuilds: the last lines are
  // shown only if the gateway stops.
  let output = "";
  for (const stream of [child.stdout, child.stderr])
    stream?.on("data", (d: Buffer) => {
      output = (output + d.toString()).slice(-8_192);
    });
  child.on("exit", (code, signal) => {
    if (!stopping) {
      console.error(`[${kind}] ${output.trim()}\n[${kind}] exited (${signal ?? code}); stopping the stack`);
      void stop(1);
    }
  });
  children.push({ name: kind, child });
}

function gatewayLine(kind: GatewayKind | undefined): string {
  switch (kind) {
    case "envoy":
      return `envoy  http://127.0.0.1:${ports.gateway}, https://localhost:${ports.gatewayTls} (self-signed)`;
    case "nginx":
      return `nginx  http://127.0.0.1:${ports.gateway} (gateways/nginx/nginx.conf; no envoy binary on the PATH)`;
    case "caddy":
      return `caddy  http://127.0.0.1:${ports.gateway} (gateways/caddy/Caddyfile; no envoy or nginx on the PATH)`;
    default:
      return "not running: no envoy, nginx or caddy on the PATH (the services run without it)";
  }
}

/** test-api.sh's settings for this gateway: usage billed from checks appears once its minute is over. */
function tryHint(kind: GatewayKind | undefined): string {
  if (!kind) return "SKIP_GATEWAY=1 ";
  return kind === "envoy" ? "" : "USAGE_TIMEOUT=90 ";
}

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) child.kill("SIGTERM");
  await Promise.all(
    children.map(
      ({ child }) => new Promise((r) => (child.exitCode !== null ? r(null) : child.once("exit", r))),
    ),
  );
  process.exit(code);
}
process.once("SIGINT", () => void stop(0));
process.once("SIGTERM", () => void stop(0));

try {
  await ensureDatabase(DATABASE_URL);
  // The console is served from its build: a fresh checkout has none (a few seconds with vite).
  await ensureConsoleBuilt();
  const common = { DATABASE_URL, HOST: "127.0.0.1" };
  const gateway = chooseGateway();
  start(
    "api",
    "api-key-service/src/run.ts",
    {
      ...common,
      REDIS_URL,
      ADMIN_TOKEN,
      INTERNAL_TOKEN,
      HTTP_PORT: String(ports.api),
      GRPC_PORT: String(ports.grpc),
      AUTH_HTTP_PORT: String(ports.forwardAuth),
    },
    SERVICE_NODE_FLAGS,
  );
  await waitHealthy("api-key-service", `http://127.0.0.1:${ports.api}/ready`);
  start("sidecar", "billing-sidecar/src/run.ts", {
    ...common,
    ALS_PORT: String(ports.als),
    HTTP_PORT: String(ports.sidecar),
    INTERNAL_TOKEN,
    // nginx and Caddy send no access log: usage is billed from the allowed checks (docs/GATEWAYS.md).
    ...(gateway === "nginx" || gateway === "caddy" ? { BILLING_SOURCE: "checks" } : {}),
  });
  start("backend", "backend-service/src/run.ts", { PORT: String(ports.backend), HOST: "127.0.0.1" });
  await waitHealthy("billing-sidecar", `http://127.0.0.1:${ports.sidecar}/health`);
  await waitHealthy("backend-service", `http://127.0.0.1:${ports.backend}/health`);
  if (gateway === "envoy") {
    if (stopping) throw new Error("not starting envoy: a process exited and the stack is stopping");
    const child = spawn("envoy", ["-c", localEnvoyConfig(), "--log-level", "warn"], { stdio: "inherit" });
    children.push({ name: "envoy", child });
  } else if (gateway) {
    startHttpGateway(gateway);
    await waitHealthy(gateway, `http://127.0.0.1:${ports.gateway}/health`);
  }
  // A process that exited meanwhile has stopped the stack: it is not up, whatever answered above.
  if (stopping) throw new Error("a process exited while the stack was starting (see above)");
  console.log(`
The stack is up (Ctrl-C stops it):
  management API  http://127.0.0.1:${ports.api}     (ADMIN_TOKEN=${ADMIN_TOKEN})
  console         http://127.0.0.1:${ports.api}/console   (sign in with the admin token)
  ext_authz gRPC  127.0.0.1:${ports.grpc}    (x-gateway-token: ${INTERNAL_TOKEN})
  forward-auth    http://127.0.0.1:${ports.forwardAuth}/v1/forward-auth
  access log gRPC 127.0.0.1:${ports.als}, sidecar http://127.0.0.1:${ports.sidecar}
  backend         http://127.0.0.1:${ports.backend}
  gateway         ${gatewayLine(gateway)}
  database        ${DATABASE_URL.replace(/\/\/[^@]*@/, "//")}
Try: API_URL=http://127.0.0.1:${ports.api} GATEWAY_URL=http://127.0.0.1:${ports.gateway} ADMIN_TOKEN=… ${tryHint(gateway)}./test-api.sh
`);
} catch (err) {
  console.error(`pnpm stack: ${(err as Error).message}`);
  await stop(1);
}
