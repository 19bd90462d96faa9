import { Redis, type RedisOptions } from "ioredis";

export type { Redis };

export interface RedisClientOptions {
  url: string;
  /** Prepended to every key: lets tests and tenants share one Redis without seeing each other. */
  keyPrefix?: string;
  onError?: (err: Error) => void;
}

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
 * an unhandled 'error' event would take the process down.
 */
export function createRedisClient(options: RedisClientOptions): Redis {
  const redisOptions: RedisOptions = {
    keyPrefix: options.keyPrefix ?? "",
    lazyConnect: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 2_000,
    commandTimeout: 1_000,
    retryStrategy: reconnectDelayMs,
  };
  const client = new Redis(options.url, redisOptions);
  const report = onceASecond((err: Error) => options.onError?.(err));
  client.on("error", report);
  return client;
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
