import { Redis, type RedisOptions } from "ioredis";

export type { Redis };

export interface RedisClientOptions {
  url: string;
  /** Prepended to every key: lets tests and tenants share one Redis without seeing each other. */
  keyPrefix?: string;
  onError?: (err: Error) => void;
  /** Fail a command that Redis does not answer in time. */
  commandTimeoutMs?: number;
  /** false: fail commands at once while disconnected instead of queueing them until Redis is back. */
  offlineQueue?: boolean;
}

/**
 * A client that reconnects forever with capped back-off and never throws from its event emitter:
 * an unhandled 'error' event would take the process down.
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  const redisOptions: RedisOptions = {
    keyPrefix: options.keyPrefix ?? "",
    lazyConnect: false,
    enableOfflineQueue: options.offlineQueue ?? true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: options.commandTimeoutMs ?? 1_000,
    // Capped at 1 s: a Redis that comes back is in use again within about a second (at 2 s the
    // wait alone could exceed the 2 s recovery target; faults/authz-redis.test.ts measures it).
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 1_000),
  };
  const client = new Redis(options.url, redisOptions);
  let lastReported = 0;
  client.on("error", (err: Error) => {
    // A down Redis emits an error per reconnect attempt; report at most one a second.
    const now = Date.now();
    if (now - lastReported < 1_000) return;
    lastReported = now;
    options.onError?.(err);
  });
  return client;
}
