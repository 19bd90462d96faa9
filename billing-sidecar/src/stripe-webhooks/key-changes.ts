import { keyChangesChannel, type Logger, publishKeyChange, type Redis } from "@gateway/common";

/** Tells every api-key-service replica that users' key records changed. */
export interface KeyChangeNotifier {
  /** Resolves when told, or when telling failed (logged): the change is committed either way. */
  usersChanged(userIds: readonly string[]): Promise<void>;
}

/**
 * Publishes `user:<id>` on api-key-service's invalidation channel, `<REDIS_KEY_PREFIX>key-changes`
 * (api-key-service/src/authz/invalidation.ts): each replica drops that user's cached keys and reads
 * the suspension on the next check. If Redis does not take it in three attempts (publishKeyChange)
 * the replicas learn at KEY_CACHE_TTL, or when they re-subscribe (which drops their whole cache).
 */
export class RedisKeyChangeNotifier implements KeyChangeNotifier {
  private readonly channel: string;

  constructor(
    private readonly redis: Redis,
    channelPrefix: string,
    private readonly logger: Logger,
    private readonly onFailure: () => void = () => {},
  ) {
    this.channel = keyChangesChannel(channelPrefix);
  }

  async usersChanged(userIds: readonly string[]): Promise<void> {
    const results = await Promise.allSettled(
      userIds.map((id) => publishKeyChange(this.redis, this.channel, `user:${id}`)),
    );
    const failed = results.filter((r) => r.status === "rejected");
    if (failed.length > 0) {
      this.onFailure();
      this.logger.warn(
        { err: failed[0]?.reason, users: failed.length },
        "could not announce a suspension change; replicas catch up by KEY_CACHE_TTL",
      );
    }
  }
}
