import { createHash } from "node:crypto";
import { createRedisClient, type Redis } from "@gateway/common";
import Parser from "redis-parser";
import {
  RedisUnavailable,
  type Reply,
  type ReplyCallback,
  type ScriptChannel,
  type ScriptNodes,
} from "./script-connection.js";

export interface IoredisScriptOptions {
  /** REDIS_URL: one Redis or a cluster, read by createRedisClient. */
  url: string;
  script: string;
  onError: (err: Error) => void;
}

/**
 * The limiter's library-backed fallback (REDIS_LIMITER_CLIENT=ioredis): the same script calls as
 * ScriptConnection sends, but connected, written, read and, on a Redis Cluster, routed by ioredis
 * (slots, MOVED and ASK, failover), with EVAL in place of an EVALSHA the node does not know. Slower
 * (a Command and a promise per call, see docs/PERFORMANCE.md on why the hand-written connection
 * exists), and there for the day the hand-written one misbehaves: an operator flips one variable.
 */
export class IoredisScriptNodes implements ScriptNodes, ScriptChannel {
  /** Routing is ioredis's: the limiter sends everything here and never sees a redirect. */
  readonly cluster = false;
  readonly sha: string;
  private readonly client: Redis;
  private readonly decoded: string[][] = [];
  private readonly parser: Parser;

  constructor(private readonly options: IoredisScriptOptions) {
    this.sha = createHash("sha1").update(options.script).digest("hex");
    this.client = createRedisClient({ url: options.url, onError: options.onError, failFast: true });
    // The limiter hands over commands as RESP; read them back into arguments for ioredis.
    this.parser = new Parser({
      returnReply: (command: string[]) => this.decoded.push(command),
      returnError: () => {},
      returnFatalError: (err: Error) => options.onError(err),
    });
  }

  get isReady(): boolean {
    return this.client.status === "ready";
  }

  connect(): void {} // ioredis connects on its own

  close(): void {
    this.client.disconnect();
  }

  once(event: "ready", listener: () => void): this {
    this.client.once(event, listener);
    return this;
  }

  nodeFor(): ScriptChannel {
    return this;
  }

  nodeAt(): undefined {
    return undefined;
  }

  moved(): void {}

  suspect(): void {}

  send(resp: string, callbacks: ReplyCallback[]): void {
    if (!this.isReady) {
      const err = new RedisUnavailable("Redis is not connected");
      for (const callback of callbacks) callback(err, null);
      return;
    }
    this.parser.execute(Buffer.from(resp));
    const commands = this.decoded.splice(0);
    commands.forEach((command, i) => {
      const callback = callbacks[i];
      if (!callback) return;
      this.run(command).then(
        (reply) => callback(null, reply),
        (err: Error) => callback(err, null),
      );
    });
  }

  reset(): void {
    this.client.disconnect(true);
  }

  private async run([name = "", ...args]: string[]): Promise<Reply> {
    try {
      return (await this.client.call(name, ...args)) as Reply;
    } catch (err) {
      // A node that never loaded the script (a new primary, a restart): run it by its text.
      if (name === "EVALSHA" && (err as Error).message.startsWith("NOSCRIPT")) {
        return (await this.client.call("EVAL", this.options.script, ...args.slice(1))) as Reply;
      }
      throw err;
    }
  }
}
