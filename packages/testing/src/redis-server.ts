import { Socket } from "node:net";
import { freePort, type ManagedProcess, startProcess } from "@gateway/harness";

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
  let server: ManagedProcess | null = null;

  const start = async () => {
    if (server) throw new Error(`redis-server on port ${port} is already running`);
    const redis = startProcess({
      name: `redis-server on port ${port}`,
      command: binary,
      args: ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
      missing: "install Debian's redis-server package (apt-get install redis-server), or pass options.binary",
    });
    await redis.waitUntilReady(() => answersPing(port), startTimeoutMs);
    server = redis;
  };

  await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    get running() {
      return server !== null;
    },
    start,
    async stop(signal = "SIGTERM") {
      if (!server) return;
      await server.stop(signal);
      server = null;
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
