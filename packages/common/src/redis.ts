import { Cluster, type ClusterOptions, type RedisOptions, Redis as SingleRedis } from "ioredis";
import { z } from "zod";

/** A client of one Redis or of a Redis Cluster: the commands the services use are the same on both. */
export type Redis = SingleRedis | Cluster;

export interface RedisClientOptions {
  url: string;
  /** Prepended to every key: lets tests and tenants share one Redis without seeing each other. */
  keyPrefix?: string;
  onError?: (err: Error) => void;
  /** Commands fail at once while disconnected rather than wait in a queue (the check path's way). */
  failFast?: boolean;
  /**
   * A client for SUBSCRIBE whose owner subscribes again itself after each reconnect ('ready'). ioredis's
   * own re-subscribe sends SUBSCRIBE without handling its failure: a connection that drops again
   * before Redis answers it leaves an unhandled rejection. One Redis only; a Cluster moves its
   * subscription to another node itself.
   */
  resubscribesItself?: boolean;
}

/** Where REDIS_URL points: one Redis, or the seed nodes of a Redis Cluster. */
export interface RedisTarget {
  cluster: boolean;
  tls: boolean;
  /** One node for a single Redis; one or more seed nodes for a cluster (any node finds the rest). */
  nodes: { host: string; port: number }[];
  username: string | undefined;
  password: string | undefined;
  /** The database number; always 0 on a cluster. */
  db: number;
}

const PROTOCOLS: Record<string, { cluster: boolean; tls: boolean }> = {
  "redis:": { cluster: false, tls: false },
  "rediss:": { cluster: false, tls: true },
  "redis+cluster:": { cluster: true, tls: false },
  "rediss+cluster:": { cluster: true, tls: true },
};

/**
 * Reads REDIS_URL: `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS) for one Redis;
 * `redis+cluster://[[user]:password@]host[:port][,host[:port]…]` (`rediss+cluster://` for TLS) for a
 * Redis Cluster, naming one or more seed nodes. Throws an error saying what is wrong.
 */
export function parseRedisUrl(text: string): RedisTarget {
  const scheme = /^([a-z+]+:)\/\//i.exec(text)?.[1]?.toLowerCase() ?? "";
  const kind = PROTOCOLS[scheme];
  if (!kind) {
    throw new Error(
      "must start with redis:// or rediss:// (one Redis), or redis+cluster:// or rediss+cluster:// (a Redis Cluster)",
    );
  }
  // A cluster's seed list is host:port,host:port, which no URL parser reads: parse one node at a time.
  const rest = text.slice(scheme.length + 2);
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const tail = authorityEnd === -1 ? "" : rest.slice(authorityEnd);
  const at = authority.lastIndexOf("@");
  const userInfo = at === -1 ? "" : authority.slice(0, at + 1);
  const hosts = (at === -1 ? authority : authority.slice(at + 1)).split(",");
  if (!kind.cluster && hosts.length > 1) {
    throw new Error("names several hosts: only a redis+cluster:// URL takes a list of seed nodes");
  }
  const nodes = hosts.map((host) => {
    if (host === "") throw new Error("has an empty host");
    if (!URL.canParse(`redis://${host}`)) throw new Error(`has a host that is not host[:port]: ${host}`);
    const node = new URL(`redis://${host}`);
    return { host: node.hostname.replace(/^\[|\]$/g, ""), port: Number(node.port || 6379) };
  });
  if (!URL.canParse(`redis://${userInfo}x${tail}`)) throw new Error("is not a valid URL");
  const parsed = new URL(`redis://${userInfo}x${tail}`);
  const path = parsed.pathname.slice(1);
  if (path !== "" && !/^\d+$/.test(path))
    throw new Error(`has a path that is not a database number: ${path}`);
  const db = Number(path || 0);
  if (kind.cluster && db !== 0) throw new Error("names a database: a Redis Cluster has database 0 only");
  return {
    ...kind,
    nodes,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db,
  };
}

/** REDIS_URL in a service's config schema: one Redis or a cluster (see parseRedisUrl). */
export const redisUrl = () =>
  z.string().superRefine((value, ctx) => {
    try {
      parseRedisUrl(value);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
    }
  });

/**
 * Wait before reconnect attempt `attempt` (0, 1, …): 50, 100, 200 … ms, capped at 1 s, so a Redis
 * that comes back is in use again within about a second (at 2 s the wait alone could exceed the 2 s
 * recovery target; faults/authz-redis.test.ts measures it).
 */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(50 * 2 ** attempt, 1_000);
}

/**
 * A client that reconnects forever with capped back-off and never throws from its event emitter:
 * an unhandled 'error' event would take the process down. A cluster URL gives an ioredis Cluster:
 * it follows MOVED/ASK and failovers itself, and PUBLISH/SUBSCRIBE work as on one Redis (classic
 * pub/sub reaches subscribers on every node).
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  const target = parseRedisUrl(options.url);
  const common = {
    keyPrefix: options.keyPrefix ?? "",
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    maxRetriesPerRequest: 1,
    username: target.username,
    password: target.password,
    ...(target.tls ? { tls: {} } : {}),
  };
  const queue = !options.failFast;
  const client = target.cluster
    ? createCluster(target, common, queue)
    : createSingle(options.url, common, queue, !options.resubscribesItself);
  const report = onceASecond((err: Error) => options.onError?.(err));
  client.on("error", report);
  return client;
}

type CommonOptions = Pick<
  RedisOptions,
  "keyPrefix" | "connectTimeout" | "commandTimeout" | "maxRetriesPerRequest" | "username" | "password" | "tls"
>;

function createSingle(
  url: string,
  common: CommonOptions,
  enableOfflineQueue: boolean,
  autoResubscribe: boolean,
): SingleRedis {
  const { keyPrefix, connectTimeout, commandTimeout, maxRetriesPerRequest } = common;
  // ioredis reads the URL itself (credentials, database, TLS and its query options), as it always has.
  return new SingleRedis(url, {
    keyPrefix,
    connectTimeout,
    commandTimeout,
    maxRetriesPerRequest,
    lazyConnect: false,
    enableOfflineQueue,
    autoResubscribe,
    retryStrategy: reconnectDelayMs,
  });
}

function createCluster(target: RedisTarget, common: CommonOptions, enableOfflineQueue: boolean): Cluster {
  const { keyPrefix, ...redisOptions } = common;
  const clusterOptions: ClusterOptions = {
    keyPrefix,
    lazyConnect: false,
    enableOfflineQueue,
    clusterRetryStrategy: reconnectDelayMs,
    // A node that stops answering is replaced within about a second of the cluster failing it over.
    retryDelayOnFailover: 200,
    slotsRefreshTimeout: 1_000,
    slotsRefreshInterval: 2_000,
    redisOptions,
  };
  const cluster = new Cluster(target.nodes, clusterOptions);
  announceNewSubscriber(cluster);
  return cluster;
}

/**
 * ioredis moves a cluster's subscription to another node when its node goes away, without a
 * 'ready' event: messages published meanwhile are lost unnoticed. A single client emits 'ready' after
 * every reconnect, and subscribers rely on it to drop what they may have missed; the cluster client
 * emits it too, each time a replacement subscription connection is ready.
 */
function announceNewSubscriber(cluster: Cluster): void {
  type Subscriber = { selectSubscriber?: () => void; getInstance?: () => SingleRedis | null };
  const subscriber = (cluster as unknown as { subscriber?: Subscriber }).subscriber;
  const select = subscriber?.selectSubscriber;
  const current = subscriber?.getInstance;
  if (!subscriber || typeof select !== "function" || typeof current !== "function") return;
  let selections = 0;
  subscriber.selectSubscriber = () => {
    select.call(subscriber);
    selections += 1;
    if (selections === 1) return; // the first one: the cluster's own 'ready' covers it
    current.call(subscriber)?.once("ready", () => cluster.emit("ready"));
  };
}

/** A down Redis fails once per reconnect attempt: pass on at most one error a second. */
export function onceASecond(report: (err: Error) => void): (err: Error) => void {
  let last = 0;
  return (err) => {
    const now = Date.now();
    if (now - last < 1_000) return;
    last = now;
    report(err);
  };
}
