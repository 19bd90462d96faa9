import { type RedisCluster, startRedisCluster } from "@gateway/testing";
import { afterAll, beforeAll } from "vitest";
import { keySlot } from "../src/authz/redis-cluster-slot.js";
import { loadConfig } from "../src/config.js";
import { bearer, envoyCheckRequest, metadataOf } from "./envoy.js";
import { describe, expect, type RunningApi, startApi, test } from "./fixtures.js";

/** The cluster of the describe block running now (each starts its own), and the limiter's client. */
let cluster: RedisCluster;
let client: "own" | "ioredis";

/** Two replicas of the service sharing the test's database, Redis prefix and the cluster. */
async function twoReplicas(services: Parameters<typeof startApi>[0]): Promise<[RunningApi, RunningApi]> {
  const env = {
    REDIS_URL: cluster.url,
    REDIS_LIMITER_CLIENT: client,
    RATE_LIMIT_FAILURE_MODE: "closed",
    // As startApi's default: a loaded test machine must not turn a slow answer into a 503.
    REDIS_TIMEOUT: "1s",
  };
  const a = await startApi(services, env);
  try {
    return [a, await startApi(services, env)];
  } catch (err) {
    await a.stop();
    throw err;
  }
}

/** What Check answered: "allowed", or the denial reason. */
async function outcome(api: RunningApi, key: string): Promise<string> {
  const response = await api.check(envoyCheckRequest({ headers: bearer(key) }), 2_000);
  return response.status?.code === 0 ? "allowed" : (metadataOf(response).denied_reason ?? "denied");
}

/** Users whose limiter keys (`<prefix>rl:{user}:…`) are on the node listening on `port`. */
async function usersOn(prefix: string, port: number, count: number): Promise<string[]> {
  const users: string[] = [];
  for (let i = 0; users.length < count; i++) {
    const user = `cluster_user_${i}`;
    if ((await cluster.ownerOf(keySlot(`${prefix}rl:{${user}}:k`))).port === port) users.push(user);
  }
  return users;
}

/** Milliseconds until `api` refuses `key` as revoked (Infinity if not within 2 s). */
async function refusedAsRevokedAfter(api: RunningApi, key: string, since: number): Promise<number> {
  while (performance.now() - since < 2_000) {
    if ((await outcome(api, key)) === "revoked") return performance.now() - since;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return Number.POSITIVE_INFINITY;
}

describe.each(["own", "ioredis"] as const)(
  "api-key-service on a Redis Cluster (REDIS_LIMITER_CLIENT=%s)",
  (kind) => {
    beforeAll(async () => {
      client = kind;
      cluster = await startRedisCluster({ nodeTimeoutMs: 1_000 });
    }, 60_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    // Once: neither depends on the limiter's client.
    if (kind === "own")
      test("REDIS_URL names a cluster as redis+cluster:// with seed nodes, REDIS_LIMITER_CLIENT the client; bad values are refused, naming them", () => {
        const base = { DATABASE_URL: "postgres://localhost/db", ADMIN_TOKEN: "a".repeat(32) };
        expect(
          loadConfig({ ...base, REDIS_URL: "redis+cluster://10.0.0.1:7000,10.0.0.2:7000" }).REDIS_URL,
        ).toBe("redis+cluster://10.0.0.1:7000,10.0.0.2:7000");
        expect(
          loadConfig({ ...base, REDIS_URL: "rediss+cluster://:secret@redis.internal" }).REDIS_URL,
        ).toBeTruthy();
        for (const [url, message] of [
          ["redis+cluster://h:7000/2", /REDIS_URL: names a database: a Redis Cluster has database 0 only/],
          ["redis://a:1,b:2", /REDIS_URL: names several hosts: only a redis\+cluster:\/\/ URL/],
          ["redis+cluster://h:7000,,h2:7000", /REDIS_URL: has an empty host/],
          ["redis+cluster://h:notaport", /REDIS_URL: has a host that is not host\[:port\]/],
          ["http://h:6379", /REDIS_URL: must start with redis:\/\/ or rediss:\/\//],
        ] as const) {
          expect(() => loadConfig({ ...base, REDIS_URL: url }), url).toThrow(message);
        }
        const redis = { ...base, REDIS_URL: "redis://h:6379" };
        expect(loadConfig(redis).REDIS_LIMITER_CLIENT).toBe("own");
        expect(loadConfig({ ...redis, REDIS_LIMITER_CLIENT: "ioredis" }).REDIS_LIMITER_CLIENT).toBe(
          "ioredis",
        );
        expect(() => loadConfig({ ...redis, REDIS_LIMITER_CLIENT: "hiredis" })).toThrow(
          /REDIS_LIMITER_CLIENT: must be own or ioredis/,
        );
      });

    test("two replicas limit keys of users on every primary together, and a revocation reaches the other", async ({
      services,
    }) => {
      const [a, b] = await twoReplicas(services);
      try {
        const ready = await a.request("GET", "/ready", { token: null });
        expect(ready.body).toEqual({ status: "ready", checks: { postgres: "ok", redis: "ok" } });
        const users = (
          await Promise.all(cluster.primaries.map((node) => usersOn(services.redisPrefix, node.port, 2)))
        ).flat();
        const keys = [];
        for (const user of users) keys.push(await a.createKey({ user_id: user, rate_limit_per_minute: 3 }));
        const outcomes = await Promise.all(
          keys.map(async (key) => {
            const seen = [];
            for (let i = 0; i < 5; i++) seen.push(await outcome(i % 2 === 0 ? a : b, key.key));
            return seen;
          }),
        );
        for (const seen of outcomes) {
          expect(seen).toEqual(["allowed", "allowed", "allowed", "rate_limited", "rate_limited"]);
        }

        const fresh = await a.createKey({ user_id: users[0] });
        expect(await outcome(b, fresh.key)).toBe("allowed"); // cached on b
        const revokedAt = performance.now();
        expect((await a.request("DELETE", `/api/keys/${fresh.id}`)).status).toBe(200);
        expect(await refusedAsRevokedAfter(b, fresh.key, revokedAt)).toBeLessThan(1_000);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    });

    if (kind === "own")
      test("when the node carrying the subscription goes, caches are dropped and changes keep arriving", async ({
        services,
      }) => {
        const [a, b] = await twoReplicas(services);
        try {
          const key = await a.createKey({ user_id: "subscriber_user" });
          expect(await outcome(b, key.key)).toBe("allowed");
          // As when the node goes down: every subscription connection of the cluster is cut.
          for (const node of [...cluster.primaries, cluster.replica]) {
            if (node?.running) await cluster.cli(node.port, "client", "kill", "type", "pubsub");
          }
          await expect
            .poll(() => b.logs.some((line) => line.includes("re-subscribed to key changes")), {
              timeout: 5_000,
            })
            .toBe(true);
          await new Promise((resolve) => setTimeout(resolve, 200)); // the SUBSCRIBE on the new connection
          const revokedAt = performance.now();
          expect((await a.request("DELETE", `/api/keys/${key.id}`)).status).toBe(200);
          expect(await refusedAsRevokedAfter(b, key.key, revokedAt)).toBeLessThan(1_000);
        } finally {
          await Promise.all([a.stop(), b.stop()]);
        }
      });

    // Last: it changes which node is a primary.
    test("a primary killed: its users' checks answer 503 (closed) until the replica takes over, then pass", async ({
      services,
    }) => {
      const [a, b] = await twoReplicas(services);
      const primary = cluster.primaries[0];
      if (!primary || !cluster.replica) throw new Error("the cluster has no replica");
      try {
        const [user] = await usersOn(services.redisPrefix, primary.port, 1);
        const key = await a.createKey({ user_id: user, rate_limit_per_minute: 1_000 });
        expect(await outcome(b, key.key)).toBe("allowed");

        await primary.stop("SIGKILL");
        const killedAt = performance.now();
        const seen = new Map<string, number>();
        let last = "";
        while (last !== "allowed" && performance.now() - killedAt < 20_000) {
          last = await outcome(b, key.key);
          seen.set(last, (seen.get(last) ?? 0) + 1);
          if (last !== "allowed") await new Promise((resolve) => setTimeout(resolve, 50));
        }
        console.info(
          `Check on the killed primary's slots: ${JSON.stringify(Object.fromEntries(seen))}, allowed again after ${(performance.now() - killedAt).toFixed(0)} ms`,
        );
        expect(last).toBe("allowed");
        expect([...seen.keys()].sort()).toEqual(["allowed", "unavailable"]);

        const revokedAt = performance.now();
        expect((await a.request("DELETE", `/api/keys/${key.id}`)).status).toBe(200);
        expect(await refusedAsRevokedAfter(b, key.key, revokedAt)).toBeLessThan(1_000);
      } finally {
        await Promise.all([a.stop(), b.stop()]);
      }
    });
  },
);
