import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "@gateway/harness";

const run = promisify(execFile);

export interface RedisClusterNode {
  port: number;
  /** The node's cluster id (CLUSTER MYID). */
  id: string;
  readonly running: boolean;
  /** SIGKILL by default, as a crash; resolves once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export interface RedisCluster {
  /** `redis+cluster://127.0.0.1:<port>,…`: every primary as a seed node, as REDIS_URL takes it. */
  url: string;
  /** The nodes that were primaries at start, in the order their slot ranges were given. */
  primaries: RedisClusterNode[];
  /** The replica of the first primary. */
  replica: RedisClusterNode | undefined;
  /** Runs redis-cli against the node on `port` and returns its output, trimmed. */
  cli(port: number, ...args: string[]): Promise<string>;
  /** The node serving `slot` now, as the node on `askPort` sees it. */
  ownerOf(slot: number, askPort?: number): Promise<RedisClusterNode>;
  /** Resolves once every running node reports cluster_state:ok. */
  waitUntilOk(timeoutMs?: number): Promise<void>;
  /** Stops every node and deletes their files. */
  stop(): Promise<void>;
}

export interface RedisClusterOptions {
  /** Default 3. */
  primaries?: number;
  /** Give the first primary a replica. Default true. */
  replica?: boolean;
  /** cluster-node-timeout: how long a silent node takes to be failed over. Default 1000 ms. */
  nodeTimeoutMs?: number;
  /** Default: `redis-server` and `redis-cli` on PATH. */
  serverBinary?: string;
  cliBinary?: string;
}

/**
 * A private Redis Cluster on 127.0.0.1: `primaries` redis-servers with `--cluster-enabled yes`
 * joined by `redis-cli --cluster create` (the 16384 slots split evenly), and a replica of the first
 * primary added with `redis-cli --cluster add-node --cluster-slave`. Nothing is persisted; the
 * nodes' cluster config files live in a temporary directory removed by stop(). Killed if the test
 * process exits first.
 */
export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisCluster> {
  const serverBinary = options.serverBinary ?? "redis-server";
  const cliBinary = options.cliBinary ?? "redis-cli";
  const dir = await mkdtemp(join(tmpdir(), "redis-cluster-"));
  const nodes: RedisClusterNode[] = [];
  const cli = async (port: number, ...args: string[]) =>
    (
      await run(cliBinary, ["-h", "127.0.0.1", "-p", String(port), ...args], { timeout: 20_000 })
    ).stdout.trim();

  const startNode = async (): Promise<RedisClusterNode> => {
    const port = await freePort();
    // The cluster bus's own free port: the default, port + 10000, may be a port in use.
    const busPort = await freePort();
    let server: ChildProcess | null = spawnNode(serverBinary, [
      "--port",
      String(port),
      "--cluster-port",
      String(busPort),
      "--bind",
      "127.0.0.1",
      "--cluster-enabled",
      "yes",
      "--cluster-config-file",
      join(dir, `nodes-${port}.conf`),
      "--cluster-node-timeout",
      String(options.nodeTimeoutMs ?? 1_000),
      "--dir",
      dir,
      "--save",
      "",
      "--appendonly",
      "no",
      // A primary otherwise waits 5 s for more replicas before it starts the first sync.
      "--repl-diskless-sync-delay",
      "0",
    ]);
    const answers = () =>
      cli(port, "ping").then(
        (out) => out === "PONG",
        () => false,
      );
    try {
      await waitFor(answers, 10_000, `redis-server --cluster-enabled on port ${port} did not answer PING`);
    } catch (err) {
      await kill(server, "SIGKILL");
      throw err;
    }
    const node: RedisClusterNode = {
      port,
      id: await cli(port, "cluster", "myid"),
      get running() {
        return server !== null;
      },
      async stop(signal = "SIGKILL") {
        if (!server) return;
        await kill(server, signal);
        server = null;
      },
    };
    nodes.push(node);
    return node;
  };

  const byPort = (port: number) => {
    const node = nodes.find((n) => n.port === port);
    if (!node) throw new Error(`no node of this cluster listens on ${port}`);
    return node;
  };

  const waitUntilOk = async (timeoutMs = 15_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        nodes.filter((n) => n.running).map((n) => cli(n.port, "cluster", "info").catch(() => "")),
      );
      if (states.every((info) => info.includes("cluster_state:ok"))) return;
      if (Date.now() > deadline) throw new Error(`the Redis cluster was not ok within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")));
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const primaries = await Promise.all(Array.from({ length: options.primaries ?? 3 }, startNode));
    await run(
      cliBinary,
      [
        "--cluster",
        "create",
        ...primaries.map((n) => `127.0.0.1:${n.port}`),
        "--cluster-replicas",
        "0",
        "--cluster-yes",
      ],
      { timeout: 30_000 },
    );
    let replica: RedisClusterNode | undefined;
    const [first] = primaries;
    if ((options.replica ?? true) && first) {
      replica = await startNode();
      await run(
        cliBinary,
        [
          "--cluster",
          "add-node",
          `127.0.0.1:${replica.port}`,
          `127.0.0.1:${first.port}`,
          "--cluster-slave",
          "--cluster-master-id",
          first.id,
        ],
        { timeout: 30_000 },
      );
      await waitForReplication(cli, replica.port);
    }
    await waitUntilOk();
    return {
      url: `redis+cluster://${primaries.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
      primaries,
      replica,
      cli,
      async ownerOf(slot, askPort) {
        const via = askPort ?? nodes.find((n) => n.running)?.port;
        if (via === undefined) throw new Error("no node of this cluster is running");
        const ranges = JSON.parse(await cli(via, "--json", "cluster", "slots")) as [
          number,
          number,
          [string, number],
        ][];
        const range = ranges.find(([start, end]) => slot >= start && slot <= end);
        if (!range) throw new Error(`slot ${slot} has no owner`);
        return byPort(range[2][1]);
      },
      waitUntilOk,
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A redis-server this test process owns: killed if the test process exits first. */
function spawnNode(binary: string, args: string[]): ChildProcess {
  const child = spawn(binary, args, { stdio: "ignore" });
  child.on("error", () => {}); // not installed: the readiness wait reports it
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  return child;
}

/** Sends `signal` (SIGKILL after 5 s) and resolves once the process has exited. */
function kill(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined)
    return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

async function waitFor(ready: () => Promise<boolean>, timeoutMs: number, failure: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) {
      throw new Error(`${failure} within ${timeoutMs} ms (is Debian's redis-server package installed?)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Until the replica reports its link to the primary up and the first sync done. */
async function waitForReplication(cli: (port: number, ...args: string[]) => Promise<string>, port: number) {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const info = await cli(port, "info", "replication").catch(() => "");
    if (info.includes("master_link_status:up")) return;
    if (Date.now() > deadline) throw new Error(`the replica on ${port} did not sync with its primary`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
