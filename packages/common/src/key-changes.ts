import { setTimeout as sleep } from "node:timers/promises";
import type { Redis } from "./redis.js";

/**
 * The channel every api-key-service replica listens on for changed keys, users, plans and
 * management keys. Channels are not covered by ioredis's keyPrefix, so REDIS_KEY_PREFIX is part of
 * the name.
 */
export function keyChangesChannel(redisKeyPrefix: string): string {
  return `${redisKeyPrefix}key-changes`;
}

/** Waits before the second and third attempt. */
const RETRY_DELAYS_MS = [100, 400];

/**
 * Publishes a change on the key-changes channel, and tries twice more (after 100 and 400 ms) when
 * Redis does not take it: on a busy machine a PUBLISH can outlast the client's command timeout, and a
 * message lost leaves the replicas serving the old record until KEY_CACHE_TTL. A message published
 * twice only evicts twice. Rejects with the last error when every attempt failed.
 */
export async function publishKeyChange(redis: Redis, channel: string, message: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      await redis.publish(channel, message);
      return;
    } catch (err) {
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined) throw err;
      await sleep(delay);
    }
  }
}
