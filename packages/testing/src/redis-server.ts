import type { ChildProcess } from "node:child_process";
import { Socket } from "node:net";
import { freePort, spawnServer, terminate, waitUntilReady } from "./child-process.js";

export interface RedisServer {
  port: number;
  /** `redis://127.0.0.1:<port>`: the same for the server's whole life, across restarts. */
  url: string;
  readonly running: boolean;
  /** Starts it again on the same port, empty (nothing is persisted); resolves once it answers PING. */
  start(): Promise<void>;
  /** SIGTERM (or the given signal), SIGKILL after 5 s; resolves once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface RedisServerOptions {
  /** Default: `redis-server` on PATH. */
  binary?: string;
  /** Default: a free port. */
  port?: number;
  startTimeoutMs?: number;
}

/**
 * A private redis-server, for a test that stops and restarts Redis (never the shared one). Keeps
 * nothing on disk (`--save "" --appendonly no`), so it comes back empty, as a Redis without
 * persistence does after a crash. Killed if the test process exits first.
 */
export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = options.binary ?? "redis-server";
  const port = options.port ?? (await freePort());
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let child: ChildProcess | null = null;

  const start = async () => {
    if (child) throw new Error(`redis-server on port ${port} is already running`);
    const server = spawnServer(
      binary,
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      {
        missing:
          "install Debian's redis-server package (apt-get install redis-server), or pass options.binary",
      },
    );
    await waitUntilReady(server, `redis-server on port ${port}`, () => answersPing(port), startTimeoutMs);
    child = server.child;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return child !== null;
    },
    start,
    async stop(signal = "SIGTERM") {
      if (!child) return;
      await terminate(child, signal);
      child = null;
    },
  };
}

/** Sends an inline PING; true on +PONG. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    let reply = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.on("data", (chunk) => {
      reply += String(chunk);
      if (reply.includes("\r\n")) done(reply.startsWith("+PONG"));
    });
    socket.connect(port, "127.0.0.1", () => socket.write("PING\r\n"));
  });
}
