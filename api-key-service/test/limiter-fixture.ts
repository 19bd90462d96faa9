import { RedisRateLimiter } from "../src/authz/redis-limiter.js";
import type { SingleNode } from "../src/authz/script-connection.js";

/** A Redis limiter on the test's Redis and prefix, started; no quota has been used before. */
export async function startRedisLimiter(
  services: { redisUrl: string; redisPrefix: string },
  options: { leases?: boolean } = {},
): Promise<RedisRateLimiter> {
  const limiter = new RedisRateLimiter({
    url: services.redisUrl,
    quotaBaseline: async () => 0,
    keyPrefix: services.redisPrefix,
    timeoutMs: 1_000,
    onError: () => {},
    leases: options.leases,
  });
  await limiter.start(5_000);
  return limiter;
}

/** Counts the script calls the limiter writes from now on. */
export function countScriptCalls(limiter: RedisRateLimiter): () => number {
  const connection = (limiter.connection as SingleNode).connection;
  const send = connection.send.bind(connection);
  let calls = 0;
  connection.send = (resp, callbacks) => {
    calls += callbacks.length;
    send(resp, callbacks);
  };
  return () => calls;
}
