import { createLogger, createRedisClient, type Redis } from "@gateway/common";
import { test as withServices } from "@gateway/testing";
import { describe, expect, vi } from "vitest";
import { CacheInvalidation } from "../src/authz/invalidation.js";
import type { KeyCache } from "../src/authz/key-cache.js";

interface Replica {
  invalidation: CacheInvalidation;
  publisher: Redis;
  subscriber: Redis;
  /** What the replica's cache was told to drop, in order. */
  evicted: string[];
}

/** Replicas of the service's cache invalidation on the shared Redis, each with its own clients. */
const test = withServices.extend<{ replica: () => Replica }>({
  replica: async ({ services }, use) => {
    const made: Replica[] = [];
    await use(() => {
      const evicted: string[] = [];
      const cache = {
        evictKey: (id: string) => evicted.push(`key:${id}`),
        evictUser: (id: string) => evicted.push(`user:${id}`),
        evictPlan: (id: string) => evicted.push(`plan:${id}`),
        clear: () => evicted.push("all"),
      } as unknown as KeyCache;
      const publisher = createRedisClient({ url: services.redisUrl });
      const subscriber = createRedisClient({ url: services.redisUrl, resubscribesItself: true });
      const logger = createLogger({ service: "test", level: "silent" });
      const invalidation = new CacheInvalidation(publisher, subscriber, cache, logger, services.redisPrefix);
      const replica = { invalidation, publisher, subscriber, evicted };
      made.push(replica);
      return replica;
    });
    for (const { invalidation, publisher, subscriber } of made) {
      invalidation.stop();
      publisher.disconnect();
      subscriber.disconnect();
    }
  },
});

describe("key-change invalidation between replicas", () => {
  test("a replica whose SUBSCRIBE failed at start subscribes again, drops what it cached meanwhile and hears changes", async ({
    replica,
  }) => {
    const a = replica();
    const b = replica();
    // As when Redis answers slower than the client's command timeout while the service starts.
    vi.spyOn(b.subscriber, "subscribe").mockRejectedValueOnce(new Error("Command timed out"));
    await Promise.all([a.invalidation.start(), b.invalidation.start()]);
    expect(b.evicted).toEqual([]);
    // A change made before the second attempt is not heard: what b cached until then is dropped.
    await vi.waitFor(() => expect(b.evicted).toEqual(["all"]), { timeout: 3_000, interval: 50 });
    await vi.waitFor(
      () => {
        a.invalidation.keyChanged("key_1");
        expect(b.evicted).toContain("key:key_1");
      },
      { timeout: 5_000, interval: 250 },
    );
  });

  test("a replica subscribes again after a reconnect, again a second later when that SUBSCRIBE fails, and rejects nothing unhandled", async ({
    replica,
  }) => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on("unhandledRejection", onUnhandled);
    try {
      const a = replica();
      const b = replica();
      await Promise.all([a.invalidation.start(), b.invalidation.start()]);
      // The connection drops again before Redis answers the SUBSCRIBE sent after the reconnect.
      const subscribe = vi
        .spyOn(b.subscriber, "subscribe")
        .mockRejectedValueOnce(new Error("Connection is closed."));
      b.subscriber.disconnect(true);
      await vi.waitFor(() => expect(subscribe).toHaveBeenCalledTimes(2), { timeout: 5_000, interval: 50 });
      // Dropped at the reconnect, and again once the SUBSCRIBE after it was taken.
      await vi.waitFor(() => expect(b.evicted).toEqual(["all", "all"]), { timeout: 3_000, interval: 50 });
      await vi.waitFor(
        () => {
          a.invalidation.keyChanged("key_2");
          expect(b.evicted).toContain("key:key_2");
        },
        { timeout: 5_000, interval: 250 },
      );
      expect(unhandled).toEqual([]);
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
  });

  test("a PUBLISH Redis did not take is sent again", async ({ replica }) => {
    const a = replica();
    const b = replica();
    await Promise.all([a.invalidation.start(), b.invalidation.start()]);
    vi.spyOn(a.publisher, "publish").mockRejectedValueOnce(new Error("Command timed out"));
    a.invalidation.userChanged("user_1");
    expect(a.evicted).toEqual(["user:user_1"]);
    await vi.waitFor(() => expect(b.evicted).toEqual(["user:user_1"]), { timeout: 3_000 });
  });
});
