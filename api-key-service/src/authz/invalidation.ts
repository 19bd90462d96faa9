import { keyChangesChannel, type Logger, publishKeyChange, type Redis } from "@gateway/common";
import type { KeyCache } from "./key-cache.js";

/** Management keys by hash (see management-key-auth.ts): evicted by id like API keys. */
export interface ManagementKeyCache {
  evict(id: string): void;
  clear(): void;
}

/**
 * Keeps every replica's key cache honest. A change evicts the key here at once and is published on a
 * Redis channel that every replica subscribes to. Pub/sub delivers nothing missed while a subscriber
 * was disconnected or not yet subscribed, so the whole cache is dropped on every reconnect, and again
 * once a SUBSCRIBE that follows a reconnect or a failed attempt is taken. A SUBSCRIBE that fails at start
 * (Redis away, or slower than the command timeout) is tried again every second until it is taken,
 * and so is the SUBSCRIBE sent after each reconnect: the subscriber is made with
 * `resubscribesItself` (ioredis's own re-subscribe leaves its failure unhandled, and covers only
 * channels Redis had confirmed).
 */
export class CacheInvalidation {
  private readonly channel: string;
  private connectedBefore = false;
  /** Changes may have gone unheard since Redis last took our SUBSCRIBE: a reconnect, or a failed one. */
  private missed = false;
  private retry: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly publisher: Redis,
    private readonly subscriber: Redis,
    private readonly cache: KeyCache,
    private readonly logger: Logger,
    channelPrefix: string,
    private readonly managementKeys?: ManagementKeyCache,
  ) {
    this.channel = keyChangesChannel(channelPrefix);
    this.subscriber.on("message", (channel: string, message: string) => {
      if (channel === this.channel) this.apply(message);
    });
    this.subscriber.on("ready", () => {
      if (this.connectedBefore) {
        this.missed = true;
        this.clearCaches();
        if (!this.stopped) void this.subscribe();
      }
      this.connectedBefore = true;
    });
  }

  /** Resolves once subscribed, or once the first attempt failed (the next one is a second later). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.subscribe();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.retry);
  }

  private async subscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.channel);
      if (this.missed) {
        // What was cached between the loss and now may have missed a change.
        this.missed = false;
        this.clearCaches();
        this.logger.info("re-subscribed to key changes; key caches cleared");
      }
    } catch (err) {
      this.missed = true;
      if (this.stopped) return;
      this.logger.warn(
        { err: (err as Error).message },
        "could not subscribe to key changes yet; trying again",
      );
      this.retry = setTimeout(() => void this.subscribe(), 1_000);
      this.retry.unref();
    }
  }

  private clearCaches(): void {
    this.cache.clear();
    this.managementKeys?.clear();
  }

  keyChanged(keyId: string): void {
    this.cache.evictKey(keyId);
    this.publish(`key:${keyId}`);
  }

  userChanged(userId: string): void {
    this.cache.evictUser(userId);
    this.publish(`user:${userId}`);
  }

  /** A plan's limits changed: every key of a user on it re-reads them. */
  planChanged(planId: string): void {
    this.cache.evictPlan(planId);
    this.publish(`plan:${planId}`);
  }

  managementKeyChanged(id: string): void {
    this.managementKeys?.evict(id);
    this.publish(`mkey:${id}`);
  }

  private apply(message: string): void {
    if (message.startsWith("key:")) this.cache.evictKey(message.slice(4));
    else if (message.startsWith("user:")) this.cache.evictUser(message.slice(5));
    else if (message.startsWith("mkey:")) this.managementKeys?.evict(message.slice(5));
    else if (message.startsWith("plan:")) this.cache.evictPlan(message.slice(5));
  }

  private publish(message: string): void {
    publishKeyChange(this.publisher, this.channel, message).catch((err: Error) => {
      this.logger.warn(
        { err: err.message },
        "could not publish a key change; other replicas catch up by cache TTL",
      );
    });
  }
}
