import { bearer, envoyCheckRequest } from "./envoy.js";
import { counterTotal, describe, expect, startApi, test } from "./fixtures.js";

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
