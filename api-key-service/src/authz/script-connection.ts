import { createHash } from "node:crypto";
import { EventEmitter } from "node:events";
import net from "node:net";
import tls from "node:tls";
import { onceASecond, parseRedisUrl, type RedisTarget, reconnectDelayMs } from "@gateway/common";
import Parser from "redis-parser";

export type Reply = number | string | null | Reply[];
export type ReplyCallback = (err: Error | null, reply: Reply) => void;

export interface ScriptConnectionOptions {
  /** REDIS_URL: redis://[[user]:password@]host[:port][/db], rediss:// for TLS, or a cluster's. */
  url: string;
  /** The node to connect to, when not the URL's (a cluster node; the URL still gives credentials and TLS). */
  node?: { host: string; port: number };
  /** The Lua script every call runs (EVALSHA); loaded on each (re)connect. */
  script: string;
  connectTimeoutMs: number;
  /** Called at most once a second while Redis is failing. */
  onError: (err: Error) => void;
}

export class RedisUnavailable extends Error {}

/**
 * One Redis connection that runs one Lua script, pipelined: the rate limiter's hot path. It writes
 * RESP the caller has already built, one write per batch, and hands each reply to the callback
 * queued for it, in order. On every (re)connect it authenticates, selects the database and loads the
 * script (SCRIPT LOAD) before it reports ready; until then, and while Redis is away, calls fail at
 * once with RedisUnavailable rather than queue. It reconnects forever with capped back-off.
 *
 * Why not ioredis here, which the rest of the service uses: a pipeline, a Command and a
 * script-execution closure per check made the client the largest allocator on the check path, and
 * those objects outlived young-generation collections (see docs/PERFORMANCE.md).
 */
export class ScriptConnection extends EventEmitter<{ ready: []; lost: [] }> implements ScriptChannel {
  readonly sha: string;
  private socket: net.Socket | undefined;
  private parser: Parser | undefined;
  private callbacks: ReplyCallback[] = [];
  private head = 0;
  private ready = false;
  private closed = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private readonly target: RedisTarget;
  private readonly host: string;
  private readonly port: number;
  private readonly report: (err: Error) => void;

  constructor(private readonly options: ScriptConnectionOptions) {
    super();
    try {
      this.target = parseRedisUrl(options.url);
    } catch (err) {
      throw new Error(`REDIS_URL ${(err as Error).message}`);
    }
    const node = options.node ?? this.target.nodes[0];
    this.host = node?.host || "127.0.0.1";
    this.port = node?.port ?? 6379;
    this.sha = createHash("sha1").update(options.script).digest("hex");
    this.report = onceASecond(options.onError);
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** host:port, as Redis Cluster names its nodes. */
  get address(): string {
    return `${this.host}:${this.port}`;
  }

  connect(): void {
    if (this.closed || this.socket) return;
    const { host, port } = this;
    const socket = this.target.tls
      ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
      : net.connect({ host, port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    // Until the script is loaded: a Redis that accepts but never answers the handshake is left too.
    socket.setTimeout(this.options.connectTimeoutMs, () =>
      socket.destroy(new Error(`Redis was not ready within ${this.options.connectTimeoutMs} ms`)),
    );
    this.parser = new Parser({
      returnReply: (reply: Reply) => this.reply(null, reply),
      returnError: (err: Error) => this.reply(err, null),
      returnFatalError: (err: Error) => socket.destroy(err),
    });
    const parser = this.parser;
    socket.on(this.target.tls ? "secureConnect" : "connect", () => this.handshake());
    socket.on("data", (data: Buffer) => parser.execute(data));
    socket.on("error", this.report);
    socket.on("close", () => this.lost(socket));
  }

  /**
   * Writes `resp` (one or more commands) and queues one callback per command, in order. Fails every
   * callback at once with RedisUnavailable if the connection is not ready.
   */
  send(resp: string, callbacks: ReplyCallback[]): void {
    if (!this.ready || !this.socket) {
      const err = new RedisUnavailable("Redis is not connected");
      for (const callback of callbacks) callback(err, null);
      return;
    }
    for (const callback of callbacks) this.callbacks.push(callback);
    this.socket.write(resp);
  }

  /** Drops the connection (a Redis that stopped answering); it reconnects as after any loss. */
  reset(reason: string): void {
    this.socket?.destroy(new Error(reason));
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
  }

  /**
   * Closes once every reply owed has come, or after `graceMs`: a cluster node that no longer serves
   * slots still answers what it was sent (a MOVED the check follows), rather than fail it.
   */
  retire(graceMs: number): void {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    if (this.head === this.callbacks.length) {
      this.socket?.destroy();
      return;
    }
    setTimeout(() => this.socket?.destroy(), graceMs).unref();
  }

  private handshake(): void {
    const { username, password, db } = this.target;
    const commands: string[][] = [];
    if (password) commands.push(username ? ["AUTH", username, password] : ["AUTH", password]);
    if (db !== 0) commands.push(["SELECT", String(db)]);
    commands.push(["SCRIPT", "LOAD", this.options.script]);
    const callbacks = commands.map(
      (command, i): ReplyCallback =>
        (err, reply) => {
          if (err) {
            this.socket?.destroy(new Error(`Redis refused ${command[0]}: ${err.message}`));
          } else if (i === commands.length - 1) {
            if (reply !== this.sha) {
              this.socket?.destroy(new Error("Redis answered SCRIPT LOAD with an unexpected digest"));
              return;
            }
            this.socket?.setTimeout(0);
            this.ready = true;
            this.attempt = 0;
            this.emit("ready");
          }
        },
    );
    for (const callback of callbacks) this.callbacks.push(callback);
    this.socket?.write(commands.map(encodeCommand).join(""));
  }

  private reply(err: Error | null, reply: Reply): void {
    const callback = this.callbacks[this.head];
    if (!callback) return; // Redis never speaks unasked; nothing to match it with.
    this.callbacks[this.head] = noop;
    this.head += 1;
    if (this.head === this.callbacks.length) {
      this.callbacks.length = 0;
      this.head = 0;
    } else if (this.head >= 1_024 && this.head * 2 >= this.callbacks.length) {
      this.callbacks = this.callbacks.slice(this.head);
      this.head = 0;
    }
    callback(err, reply);
    if (this.closed && this.head === this.callbacks.length) this.socket?.destroy(); // retired, all answered
  }

  private lost(socket: net.Socket): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    this.parser = undefined;
    this.ready = false;
    const owed = this.callbacks.slice(this.head);
    this.callbacks = [];
    this.head = 0;
    const err = new RedisUnavailable("the connection to Redis was lost");
    for (const callback of owed) callback(err, null);
    if (this.closed) return;
    this.emit("lost");
    const delay = reconnectDelayMs(this.attempt);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
    this.reconnectTimer.unref();
  }
}

function noop(): void {}

/** A RESP bulk string. */
export const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;

/** A command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += bulk(arg);
  return out;
}

/** Where script calls are written: a ScriptConnection, or a library client standing in for one. */
export interface ScriptChannel {
  readonly isReady: boolean;
  /** Writes `resp` (one or more commands) and calls back once per command, in order. */
  send(resp: string, callbacks: ReplyCallback[]): void;
  /** Drops the connection (it owes replies for too long, or lost the script); it reconnects. */
  reset(reason: string): void;
  once(event: "ready", listener: () => void): unknown;
}

/**
 * The connections a script call can go to: one Redis, or the primaries of a Redis Cluster, each
 * serving the hash slots CLUSTER SLOTS gives it.
 */
export interface ScriptNodes {
  readonly sha: string;
  readonly cluster: boolean;
  /** Every slot has a node and every node is connected, with the script loaded. */
  readonly isReady: boolean;
  connect(): void;
  close(): void;
  once(event: "ready", listener: () => void): unknown;
  /** The connection serving `slot` (one Redis: its only one); undefined while none is known. */
  nodeFor(slot: number): ScriptChannel | undefined;
  /** A redirect's target (ASK), connected if it was not; undefined for an address it cannot use. */
  nodeAt(address: string): ScriptChannel | undefined;
  /** A MOVED reply: `slot` is served by `address` now; the whole map is read again soon. */
  moved(slot: number, address: string): void;
  /** A call failed for want of a node: look at the cluster again soon. */
  suspect(): void;
}

/** One Redis: every slot is its own. */
export class SingleNode implements ScriptNodes {
  readonly cluster = false;

  constructor(readonly connection: ScriptConnection) {}

  get sha(): string {
    return this.connection.sha;
  }

  get isReady(): boolean {
    return this.connection.isReady;
  }

  connect(): void {
    this.connection.connect();
  }

  close(): void {
    this.connection.close();
  }

  once(event: "ready", listener: () => void): this {
    this.connection.once(event, listener);
    return this;
  }

  nodeFor(): ScriptConnection {
    return this.connection;
  }

  nodeAt(): undefined {
    return undefined;
  }

  moved(): void {}

  suspect(): void {}
}
