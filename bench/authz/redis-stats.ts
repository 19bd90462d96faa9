/**
 * Redis-side accounting from the server's own counters, over a bare RESP connection (the bench has
 * no Redis client dependency and needs only INFO and MONITOR).
 */
import net from "node:net";

export interface RedisSnapshot {
  /** total_commands_processed: counts commands run inside scripts too. */
  commands: number;
  /** total_reads_processed: read events on client sockets, i.e. request batches received. */
  reads: number;
  /** used_cpu_user + used_cpu_sys of the Redis server. */
  cpuS: number;
  /** Calls per command from INFO commandstats. */
  calls: Record<string, number>;
}

export interface RedisDelta {
  commands: number;
  reads: number;
  cpuS: number;
  calls: Record<string, number>;
}

const REQUEST_TIMEOUT_MS = 5_000;

function connect(host: string, port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(
      () => socket.destroy(new Error(`could not connect to Redis at ${host}:${port}`)),
      5_000,
    );
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

function parseInfo(text: string): RedisSnapshot {
  const fields = new Map<string, string>();
  const calls: Record<string, number> = {};
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1);
    if (name.startsWith("cmdstat_")) {
      const match = /(?:^|,)calls=(\d+)/.exec(value);
      calls[name.slice("cmdstat_".length)] = Number(match?.[1] ?? 0);
    } else {
      fields.set(name, value);
    }
  }
  const number = (name: string) => Number(fields.get(name) ?? Number.NaN);
  return {
    commands: number("total_commands_processed"),
    reads: number("total_reads_processed"),
    cpuS: number("used_cpu_user") + number("used_cpu_sys"),
    calls,
  };
}

/** One connection that answers INFO, one request at a time. */
export class RedisInfo {
  private constructor(private readonly socket: net.Socket) {
    // Errors between requests surface on the next request (the socket is then destroyed).
    socket.on("error", () => {});
  }

  static async connect(host: string, port: number): Promise<RedisInfo> {
    return new RedisInfo(await connect(host, port));
  }

  async snapshot(): Promise<RedisSnapshot> {
    return parseInfo(String(await this.command(["INFO", "stats", "cpu", "commandstats"])));
  }

  async version(): Promise<string> {
    const text = String(await this.command(["INFO", "server"]));
    return /^redis_version:(.+)$/m.exec(text)?.[1]?.trim() ?? "unknown";
  }

  /** Keys under `prefix` (the run's own namespace), removed in bounded SCAN batches. */
  async deleteKeys(prefix: string, maxRounds = 1_000): Promise<number> {
    let cursor = "0";
    let deleted = 0;
    for (let round = 0; round < maxRounds; round++) {
      const reply = await this.command(["SCAN", cursor, "MATCH", `${prefix}*`, "COUNT", "1000"]);
      const [next, keys] = reply as [string, string[]];
      if (keys.length > 0) deleted += Number(await this.command(["UNLINK", ...keys]));
      cursor = next;
      if (cursor === "0") break;
    }
    return deleted;
  }

  close(): void {
    this.socket.destroy();
  }

  /** One request at a time; bounded in time, and failing at once on a closed connection. */
  private command(args: string[]): Promise<unknown> {
    const request = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) {
        reject(new Error("the Redis stats connection is closed"));
        return;
      }
      let buf = Buffer.alloc(0);
      const finish = (err: Error | undefined, value?: unknown) => {
        clearTimeout(timer);
        this.socket.off("data", onData);
        this.socket.off("error", finish);
        this.socket.off("close", onClose);
        if (err) reject(err);
        else resolve(value);
      };
      const onData = (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        const parsed = parseReply(buf, 0);
        if (!parsed) return;
        if (parsed.value instanceof Error) finish(parsed.value);
        else finish(undefined, parsed.value);
      };
      const onClose = () => finish(new Error("the Redis stats connection closed"));
      const timer = setTimeout(
        () => finish(new Error(`Redis did not answer ${args[0]} within ${REQUEST_TIMEOUT_MS} ms`)),
        REQUEST_TIMEOUT_MS,
      );
      this.socket.on("data", onData);
      this.socket.on("error", finish);
      this.socket.on("close", onClose);
      this.socket.write(request);
    });
  }
}

/** A RESP2 reply starting at `at`, or undefined while incomplete. */
function parseReply(buf: Buffer, at: number): { value: unknown; next: number } | undefined {
  const lineEnd = buf.indexOf("\r\n", at);
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buf[at] ?? 0);
  const line = buf.toString("utf8", at + 1, lineEnd);
  const next = lineEnd + 2;
  if (kind === "+") return { value: line, next };
  if (kind === "-") return { value: new Error(line), next };
  if (kind === ":") return { value: Number(line), next };
  if (kind === "$") {
    const length = Number(line);
    if (length < 0) return { value: null, next };
    if (buf.length < next + length + 2) return undefined;
    return { value: buf.toString("utf8", next, next + length), next: next + length + 2 };
  }
  if (kind === "*") {
    const count = Number(line);
    const items: unknown[] = [];
    let i = next;
    for (let n = 0; n < count; n++) {
      const item = parseReply(buf, i);
      if (!item) return undefined;
      items.push(item.value);
      i = item.next;
    }
    return { value: items, next: i };
  }
  return { value: new Error(`unexpected RESP reply: ${line}`), next };
}

/**
 * What happened between two snapshots, less the bench's own INFO: `a`'s INFO is counted by the time
 * `b` is taken, and `b`'s request is one read event.
 */
export function redisDelta(a: RedisSnapshot, b: RedisSnapshot): RedisDelta {
  const calls: Record<string, number> = {};
  for (const [name, n] of Object.entries(b.calls)) {
    const d = n - (a.calls[name] ?? 0) - (name === "info" ? 1 : 0);
    if (d > 0) calls[name] = d;
  }
  return {
    commands: b.commands - a.commands - 1,
    reads: b.reads - a.reads - 1,
    cpuS: b.cpuS - a.cpuS,
    calls,
  };
}

export interface MonitorCounts {
  /** Commands sent by the service's own connections, by name. */
  service: Record<string, number>;
  /** Commands run inside Lua scripts (MONITOR shows them as client "lua"), by name. */
  scripts: Record<string, number>;
  /**
   * Requests the service sent: each command, except that a MULTI … EXEC block counts once (ioredis
   * pipelines it). Plain pipelines still count per command, so this is an upper bound.
   */
  serviceRoundTrips: number;
  /** Commands from any other client on this shared Redis (other tests, the bench itself). */
  others: number;
}

/**
 * MONITOR for a short sample: it names the client of every command, which splits the service's own
 * round trips from commands run inside its scripts. It slows Redis down, so it never runs during a
 * measured window.
 */
export class RedisMonitor {
  private readonly counts: MonitorCounts = { service: {}, scripts: {}, serviceRoundTrips: 0, others: 0 };
  private readonly inMulti = new Set<string>();
  private partial = "";

  private constructor(
    private readonly socket: net.Socket,
    private readonly isService: (clientAddress: string) => boolean,
  ) {
    socket.on("data", (chunk: Buffer) => this.receive(chunk.toString("utf8")));
    socket.on("error", () => {});
  }

  static async start(
    host: string,
    port: number,
    isService: (address: string) => boolean,
  ): Promise<RedisMonitor> {
    const socket = await connect(host, port);
    const monitor = new RedisMonitor(socket, isService);
    socket.write("MONITOR\r\n");
    return monitor;
  }

  stop(): MonitorCounts {
    this.socket.destroy();
    return this.counts;
  }

  private receive(text: string): void {
    const lines = (this.partial + text).split("\r\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      const match = /^\+\d+\.\d+ \[\d+ ([^\]]+)\] "((?:[^"\\]|\\.)*)"/.exec(line);
      if (!match) continue;
      const client = match[1] ?? "";
      const command = (match[2] ?? "").toLowerCase();
      if (client === "lua") this.counts.scripts[command] = (this.counts.scripts[command] ?? 0) + 1;
      else if (this.isService(client)) {
        this.counts.service[command] = (this.counts.service[command] ?? 0) + 1;
        if (!this.inMulti.has(client)) this.counts.serviceRoundTrips++;
        if (command === "multi") this.inMulti.add(client);
        else if (command === "exec" || command === "discard") this.inMulti.delete(client);
      } else this.counts.others++;
    }
  }
}
