import { bearer, envoyCheckRequest, headerMap, metadataOf } from "./envoy.js";
import { describe, expect, startApi, test } from "./fixtures.js";

describe("two replicas sharing Postgres and Redis", () => {
  test("many concurrent clients never get more than the limit admitted, and refusals do not consume", async ({
    api,
    services,
  }) => {
    const other = await startApi(services);
    try {
      const key = await api.createKey({ rate_limit_per_minute: 50 });
      const request = envoyCheckRequest({ headers: bearer(key.key) });
      const replicas = [api, other];
      const clients = Array.from({ length: 32 }, async (_, c) => {
        const codes: number[] = [];
        for (let i = 0; i < 12; i++) {
          const replica = replicas[(c + i) % 2] ?? api;
          codes.push((await replica.check(request, 2_000)).status?.code ?? -1);
        }
        return codes;
      });
      const codes = (await Promise.all(clients)).flat();
      expect(codes.filter((c) => c === 0)).toHaveLength(50);
      expect(codes.filter((c) => c === 8)).toHaveLength(32 * 12 - 50);
    } finally {
      await other.stop();
    }
  });

  test("the rate-limit headers count down across replicas", async ({ api, services }) => {
    const other = await startApi(services);
    try {
      const key = await api.createKey({ rate_limit_per_minute: 5 });
      const remaining = [];
      for (let i = 0; i < 5; i++) {
        const replica = i % 2 === 0 ? api : other;
        const response = await replica.check(envoyCheckRequest({ headers: bearer(key.key) }));
        remaining.push(headerMap(response.ok_response?.response_headers_to_add)["x-ratelimit-remaining"]);
      }
      expect(remaining).toEqual(["4", "3", "2", "1", "0"]);
    } finally {
      await other.stop();
    }
  });

  test("a key revoked through one replica is refused by the other within a second", async ({
    api,
    services,
  }) => {
    const other = await startApi(services);
    try {
      const key = await api.createKey();
      const request = envoyCheckRequest({ headers: bearer(key.key) });
      expect((await other.check(request)).status?.code).toBe(0); // cached on the other replica
      expect((await other.check(request)).status?.code).toBe(0);

      const revokedAt = performance.now();
      expect((await api.request("DELETE", `/api/keys/${key.id}`)).status).toBe(200);
      let refusedAfterMs = Number.POSITIVE_INFINITY;
      while (performance.now() - revokedAt < 2_000) {
        const response = await other.check(request);
        if (metadataOf(response).denied_reason === "revoked") {
          refusedAfterMs = performance.now() - revokedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      console.info(`revocation reached the other replica after ${refusedAfterMs.toFixed(1)} ms`);
      expect(refusedAfterMs).toBeLessThan(1_000);
    } finally {
      await other.stop();
    }
  });

  test("limit and scope changes, and a user's new Stripe customer, reach the other replica", async ({
    api,
    services,
  }) => {
    const other = await startApi(services);
    try {
      const key = await api.createKey({ user_id: "acme", scopes: ["read"] });
      const request = envoyCheckRequest({
        headers: bearer(key.key),
        contextExtensions: { required_scopes: "write" },
      });
      expect(metadataOf(await other.check(request)).denied_reason).toBe("missing_scope");
      await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { scopes: ["read", "write"] } });
      await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_New1" } });
      await expect
        .poll(async () => metadataOf(await other.check(request)), { timeout: 1_000, interval: 20 })
        .toMatchObject({ api_key_id: key.id, stripe_customer_id: "cus_New1" });
    } finally {
      await other.stop();
    }
  });
});

describe("allowed and denied counts", () => {
  test("are written per key and minute in batches, with last_used_at", async ({ services }) => {
    const api = await startApi(services, { AUTHZ_FLUSH_INTERVAL: "200ms" });
    try {
      const key = await api.createKey({ rate_limit_per_minute: 30 });
      const [before] = await api.query(
        "select xact_commit::int as n from pg_stat_database where datname = current_database()",
      );
      const request = envoyCheckRequest({ headers: bearer(key.key) });
      await Promise.all(Array.from({ length: 40 }, () => api.check(request, 2_000)));
      await expect
        .poll(
          async () =>
            api.query("select allowed::int, denied::int from authz_counts where key_id = $1", [key.id]),
          {
            timeout: 3_000,
          },
        )
        .toEqual([{ allowed: 30, denied: 10 }]);
      const [after] = await api.query(
        "select xact_commit::int as n from pg_stat_database where datname = current_database()",
      );
      // 40 checks, a handful of transactions: the counts were batched, not written per request.
      expect(after.n - before.n).toBeLessThan(15);
      // last_used_at is the flush's second statement: the counts can be seen before it commits.
      await expect
        .poll(async () => {
          const [row] = await api.query("select last_used_at from api_keys where id = $1", [key.id]);
          return row.last_used_at === null
            ? Number.POSITIVE_INFINITY
            : Date.now() - new Date(row.last_used_at).getTime();
        })
        .toBeLessThan(10_000);
    } finally {
      await api.stop();
    }
  });
});
