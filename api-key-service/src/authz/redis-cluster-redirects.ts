import {
  RedisUnavailable,
  type Reply,
  type ReplyCallback,
  type ScriptChannel,
  type ScriptNodes,
} from "./script-connection.js";

/** Sent before a command that follows an ASK redirect, on the node it names. */
export const ASKING = "*1\r\n$6\r\nASKING\r\n";

export class RedisTimeout extends Error {}

/** Where a MOVED or ASK reply sends a command again. */
export interface Redirect {
  ask: boolean;
  slot: number;
  connection: ScriptChannel;
}

/**
 * Where a MOVED or ASK reply sends a command; a MOVED also updates the slot map. Undefined for any
 * other error. From a single Redis it throws an error saying that REDIS_URL names a cluster node.
 */
export function redirection(nodes: ScriptNodes, err: Error): Redirect | undefined {
  const match = /^(MOVED|ASK) (\d+) (\S+)$/.exec(err.message);
  if (!match) return undefined;
  const [, kind, slotText, address] = match as unknown as [string, string, string, string];
  if (!nodes.cluster) {
    throw new Error(`Redis answered ${kind}: REDIS_URL names a Redis Cluster node; use redis+cluster://`);
  }
  const slot = Number(slotText);
  if (kind === "MOVED") nodes.moved(slot, address);
  const connection = kind === "MOVED" ? nodes.nodeFor(slot) : nodes.nodeAt(address);
  return connection ? { ask: kind === "ASK", slot, connection } : undefined;
}

/**
 * Calls `send` once `connection` is ready: a node this replica had no connection to yet (a replica
 * just promoted, a primary just added) is connected on the redirect. Calls `fail` with RedisTimeout
 * instead if that takes longer than `timeoutMs`.
 */
export function whenReady(
  connection: ScriptChannel,
  timeoutMs: number,
  send: () => void,
  fail: (err: Error) => void,
): void {
  if (connection.isReady) {
    send();
    return;
  }
  let waiting = true;
  const timer = setTimeout(() => {
    waiting = false;
    fail(new RedisTimeout(`the Redis node a redirect named was not connected within ${timeoutMs} ms`));
  }, timeoutMs);
  connection.once("ready", () => {
    if (!waiting) return;
    waiting = false;
    clearTimeout(timer);
    send();
  });
}

/**
 * One command outside the check batches (the quota API's GET, a rebuilt counter's SET NX), sent to
 * the node serving `slot` and once more to the node a MOVED or ASK reply names, within `timeoutMs`.
 */
export function sendCommand(
  nodes: ScriptNodes,
  resp: string,
  slot: number,
  timeoutMs: number,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const connection = nodes.nodeFor(slot);
    if (!connection) {
      nodes.suspect();
      reject(new RedisUnavailable("no Redis Cluster node is known for this key yet"));
      return;
    }
    const timer = setTimeout(
      () => reject(new RedisTimeout(`Redis did not answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const write = (to: ScriptChannel, asking: boolean, redirected: boolean) => {
      const callback: ReplyCallback = (err, reply) => {
        let next: Redirect | undefined;
        try {
          next = err && !redirected ? redirection(nodes, err) : undefined;
        } catch (wrongUrl) {
          clearTimeout(timer);
          reject(wrongUrl);
          return;
        }
        if (next) {
          const again = next;
          whenReady(again.connection, timeoutMs, () => write(again.connection, again.ask, true), reject);
          return;
        }
        clearTimeout(timer);
        if (err) {
          if (err instanceof RedisUnavailable) nodes.suspect();
          reject(err);
        } else resolve(reply);
      };
      if (asking) to.send(ASKING + resp, [noop, callback]);
      else to.send(resp, [callback]);
    };
    write(connection, false, false);
  });
}

export function noop(): void {}
