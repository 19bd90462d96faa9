import { type ChildProcess, spawn } from "node:child_process";
import { chownSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "@gateway/testing";

export const REPO_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export type GatewayKind = "nginx" | "caddy";

export interface GatewaySettings {
  forwardAuthAddr: string;
  backendAddr: string;
  internalToken?: string;
}

export interface RunningGateway {
  kind: GatewayKind;
  url: string;
  port: number;
  /** Everything the gateway printed, for failure messages. */
  output(): string;
  stop(): Promise<void>;
}

/** `nobody`: a root test run starts the gateways as this user, so they are proven to need no privilege. */
const UNPRIVILEGED = 65534;

/**
 * The command that starts each gateway on its shipped configuration, as docs/GATEWAYS.md gives it:
 * nginx through gateways/nginx/start.sh (which renders the template), Caddy on the Caddyfile itself.
 */
function command(
  kind: GatewayKind,
  runDir: string,
): { file: string; args: string[]; env: Record<string, string> } {
  if (kind === "nginx") {
    return { file: "bash", args: ["gateways/nginx/start.sh"], env: { NGINX_RUN_DIR: runDir } };
  }
  return {
    file: "caddy",
    args: ["run", "--config", "gateways/caddy/Caddyfile", "--adapter", "caddyfile"],
    // Caddy keeps its state (autosaved config, certificates) under these.
    env: { HOME: runDir, XDG_CONFIG_HOME: runDir, XDG_DATA_HOME: runDir },
  };
}

/** Starts nginx or Caddy on a free port and waits until it proxies /health to the backend. */
export async function startGateway(kind: GatewayKind, settings: GatewaySettings): Promise<RunningGateway> {
  const port = await freePort();
  const runDir = mkdtempSync(join(tmpdir(), `gateway-${kind}-`));
  const root = process.getuid?.() === 0;
  if (root) chownSync(runDir, UNPRIVILEGED, UNPRIVILEGED);
  const { file, args, env } = command(kind, runDir);
  const child: ChildProcess = spawn(
    root ? "setpriv" : file,
    root
      ? [`--reuid=${UNPRIVILEGED}`, `--regid=${UNPRIVILEGED}`, "--clear-groups", "--", file, ...args]
      : args,
    {
      cwd: REPO_ROOT,
      env: {
        PATH: process.env.PATH ?? "",
        TMPDIR: runDir,
        GATEWAY_PORT: String(port),
        FORWARD_AUTH_ADDR: settings.forwardAuthAddr,
        BACKEND_ADDR: settings.backendAddr,
        ...(settings.internalToken ? { INTERNAL_TOKEN: settings.internalToken } : {}),
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(runDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      await stop();
      throw new Error(`${kind} exited before it was ready:\n${output}`);
    }
    const ready = await fetch(`${url}/health`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${kind} did not answer /health on ${url} within 15 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { kind, url, port, output: () => output, stop };
}
