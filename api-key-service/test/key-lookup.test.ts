import { Registry } from "prom-client";
import { KeyCache } from "../src/authz/key-cache.js";
import { KeyLookup } from "../src/authz/key-lookup.js";
import { AuthzMetrics } from "../src/authz/metrics.js";
import { hashKey } from "../src/keys/key-format.js";
import { bearer, envoyCheckRequest } from "./envoy.js";
import { counterTotal, describe, expect, startApi, test } from "./fixtures.js";
import { postgresWithHeldAnswers } from "./held-answers.js";

describe("a replica with a cold cache", () => {
  test("looks up the keys missed together in a few queries, and answers every check", async ({
    api,
    services,
  }) => {
    const keys = await Promise.all(
      Array.from({ length: 60 }, (_, i) => api.createKey({ user_id: `cold-${i}` })),
    );
    // A second replica has seen none of these keys: every first check is a cache miss.
    const cold = await startApi(services);
    try {
      const before = counterTotal(await cold.metricsText(), "key_store_queries_total");
      const answers = await Promise.all(
        keys.flatMap((key) => [1, 2].map(() => cold.check(envoyCheckRequest({ headers: bearer(key.key) })))),
      );
      expect(answers.map((a) => a.status?.code ?? 0)).toEqual(answers.map(() => 0));
      const ids = answers.map((a) => a.dynamic_metadata?.fields?.api_key_id?.stringValue);
      expect(ids).toEqual(keys.flatMap((key) => [key.id, key.id]));
      // 120 checks of 60 keys, all missed at once: far fewer queries than keys.
      const queries = counterTotal(await cold.metricsText(), "key_store_queries_total") - before;
      expect(queries).toBeGreaterThanOrEqual(1);
      expect(queries).toBeLessThanOrEqual(10);
      // A rotated-out secret is found through the same batch query, by its previous hash.
      const rotated = await api.request("POST", `/api/keys/by-id/${keys[0].id}/rotate`, { body: {} });
      expect(rotated.status).toBe(200);
      const fresh = await startApi(services);
      try {
        const [oldSecret, newSecret] = await Promise.all([
          fresh.check(envoyCheckRequest({ headers: bearer(keys[0].key) })),
          fresh.check(envoyCheckRequest({ headers: bearer(rotated.body.key) })),
        ]);
        expect(oldSecret.status?.code ?? 0).toBe(0);
        expect(newSecret.status?.code ?? 0).toBe(0);
      } finally {
        await fresh.stop();
      }
    } finally {
      await cold.stop();
    }
  });
});

describe("a key changed while its lookup reads Postgres", () => {
  test("answers the waiting check from what was read, but is not cached: the next check sees the change", async ({
    api,
  }) => {
    const revoked = await api.createKey({ user_id: "racer" });
    const other = await api.createKey({ user_id: "bystander" });
    const postgres = await postgresWithHeldAnswers(api.databaseUrl);
    const cache = new KeyCache(100);
    const lookup = new KeyLookup(
      postgres.db,
      cache,
      {
        defaults: { perMinute: 60, perDay: 1_000 },
        ttlMs: 300_000,
        negativeTtlMs: 5_000,
        timeoutMs: 10_000,
        maxInFlight: 100,
      },
      new AuthzMetrics(new Registry()),
    );
    const find = (secret: string) =>
      postgres.hold("previous_key_hash", async () => lookup.find(hashKey(secret)));
    try {
      // Revoked after Postgres read the row, before the answer arrived (as on a busy replica).
      const first = await find(revoked.key);
      expect((await api.request("DELETE", `/api/keys/${revoked.id}`)).status).toBe(200);
      cache.evictKey(revoked.id); // what the change's invalidation message does on every replica
      postgres.release();
      expect((await first.pending)?.revokedAt).toBeNull(); // this check raced the revocation
      expect(cache.get(hashKey(revoked.key))).toBeUndefined();
      expect((await lookup.find(hashKey(revoked.key)))?.revokedAt).toEqual(expect.any(Number));

      // A change to another key during a read does not keep the read out of the cache.
      const second = await find(other.key);
      cache.evictKey(revoked.id);
      postgres.release();
      expect((await second.pending)?.id).toBe(other.id);
      expect(cache.get(hashKey(other.key))?.key?.id).toBe(other.id);
    } finally {
      await postgres.close();
    }
  });
});

describe("a replica that starts (KEY_CACHE_PREWARM)", () => {
  test("has the keys used within the setting's time cached before its first check; 0s turns it off", async ({
    api,
    services,
  }) => {
    const [recent, rotated, old, unused] = await Promise.all(
      ["recent", "rotated", "old", "unused"].map((name) => api.createKey({ user_id: `warm-${name}` })),
    );
    const renewed = await api.request("POST", `/api/keys/by-id/${rotated.id}/rotate`, { body: {} });
    expect(renewed.status).toBe(200);
    await api.query("update api_keys set last_used_at = now() - interval '1 minute' where id = any($1)", [
      [recent.id, rotated.id],
    ]);
    await api.query("update api_keys set last_used_at = now() - interval '2 days' where id = $1", [old.id]);

    const queriesFor = async (replica: Awaited<ReturnType<typeof startApi>>, secrets: string[]) => {
      const before = counterTotal(await replica.metricsText(), "key_store_queries_total");
      const answers = await Promise.all(
        secrets.map((secret) => replica.check(envoyCheckRequest({ headers: bearer(secret) }))),
      );
      expect(answers.map((a) => a.status?.code ?? 0)).toEqual(secrets.map(() => 0));
      return counterTotal(await replica.metricsText(), "key_store_queries_total") - before;
    };
    const warm = await startApi(services); // the default, 24h
    try {
      expect(warm.logs.map((l) => JSON.parse(l)).find((l) => l.keys !== undefined)).toMatchObject({
        keys: 2,
        msg: "key cache filled with the keys used lately (KEY_CACHE_PREWARM)",
      });
      // Both secrets of the rotated key (the old one is in its grace period) answer from the cache.
      expect(await queriesFor(warm, [recent.key, rotated.key, renewed.body.key])).toBe(0);
      expect(await queriesFor(warm, [old.key])).toBe(1); // used before the setting's time
      expect(await queriesFor(warm, [unused.key])).toBe(1);
    } finally {
      await warm.stop();
    }
    const cold = await startApi(services, { KEY_CACHE_PREWARM: "0s" });
    try {
      expect(await queriesFor(cold, [recent.key])).toBe(1);
    } finally {
      await cold.stop();
    }
  });
});
