import { Redis } from "ioredis";
import { bearer, envoyCheckRequest, headerMap } from "./envoy.js";
import { type Api, describe, expect, startApi, test } from "./fixtures.js";

const BIG = 1_000_000;

async function onPlan(api: Api, user: string, plan: Record<string, unknown>): Promise<void> {
  const created = await api.request("POST", "/api/plans", { body: { name: "Pro", ...plan } });
  expect(created.status, created.text).toBe(201);
  const put = await api.request("PUT", `/api/users/${user}`, { body: { plan_id: plan.id } });
  expect(put.status, put.text).toBe(200);
}

const check = (api: Api, secret: string, cost?: number | string) =>
  api.check(
    envoyCheckRequest({
      headers: bearer(secret),
      contextExtensions: cost === undefined ? {} : { cost: String(cost) },
    }),
  );

async function deleteRedisKeys(redisUrl: string, prefix: string): Promise<number> {
  const redis = new Redis(redisUrl);
  try {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    return keys.length;
  } finally {
    redis.disconnect();
  }
}

describe("monthly quotas", () => {
  test("two replicas, many clients, two keys of one user, mixed costs: exactly the quota is admitted", async ({
    api,
    services,
  }) => {
    const other = await startApi(services);
    try {
      await onPlan(api, "acme", { id: "pro", monthly_quota: 500 });
      const keys = [
        await api.createKey({ user_id: "acme", rate_limit_per_minute: BIG, rate_limit_per_day: BIG }),
        await api.createKey({ user_id: "acme", rate_limit_per_minute: BIG, rate_limit_per_day: BIG }),
      ];
      const replicas = [api, other];
      let admitted = 0;
      const codes = new Map<string, number>();
      await Promise.all(
        Array.from({ length: 24 }, async (_, c) => {
          for (let i = 0; i < 30; i++) {
            const cost = [1, 3, 7][(c + i) % 3] as number;
            const response = await check(replicas[(c + i) % 2] as Api, keys[c % 2].key, cost);
            if (response.status?.code === 0) admitted += cost;
            else {
              const code = JSON.parse(response.denied_response?.body ?? "{}").error.code;
              codes.set(code, (codes.get(code) ?? 0) + 1);
            }
          }
        }),
      );
      // Whatever is left fits cost-1 requests: admit them until the quota says no.
      for (;;) {
        const response = await check(api, keys[0].key, 1);
        if (response.status?.code !== 0) break;
        admitted += 1;
      }
      expect(admitted).toBe(500);
      expect([...codes.keys()]).toEqual(["quota_exceeded"]);
      const quota = await api.request("GET", "/api/users/acme/quota");
      expect(quota.body).toMatchObject({ plan_id: "pro", monthly_quota: 500, used: 500, remaining: 0 });
    } finally {
      await other.stop();
    }
  });

  test("past the quota: 429 quota_exceeded, Retry-After to the period's end; allowed answers carry the quota", async ({
    api,
  }) => {
    await onPlan(api, "acme", { id: "small", monthly_quota: 10, rate_limit_per_minute: 1000 });
    const key = await api.createKey({ user_id: "acme" });
    const allowed = await check(api, key.key, 4);
    const headers = headerMap(allowed.ok_response?.response_headers_to_add);
    expect(headers).toMatchObject({
      "x-ratelimit-limit": "1000",
      "x-quota-limit": "10",
      "x-quota-remaining": "6",
      "x-quota-reset": expect.stringMatching(/^\d+$/),
    });
    expect(headers["ratelimit-policy"]).toMatch(
      /^"minute";q=1000;w=60, "day";q=10000;w=86400, "month";q=10;w=\d+$/,
    );
    await check(api, key.key, 6);
    const refused = await check(api, key.key, 1);
    expect(refused.denied_response?.status?.code).toBe("TooManyRequests");
    expect(JSON.parse(refused.denied_response?.body ?? "{}").error.code).toBe("quota_exceeded");
    const denied = headerMap(refused.denied_response?.headers);
    const now = new Date();
    const periodEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(Math.abs(Number(denied["retry-after"]) - (periodEnd - Date.now()) / 1000)).toBeLessThan(5);
    expect(denied["x-quota-remaining"]).toBe("0");
    const metrics = await api.metricsText();
    expect(metrics).toMatch(/authz_checks_total\{outcome="denied",reason="QUOTA_EXCEEDED"\} 1/);
    const verified = await api.request("POST", "/v1/keys/verify", { body: { key: key.key } });
    expect(verified.body).toMatchObject({
      valid: false,
      code: "QUOTA_EXCEEDED",
      quota: { limit: 10, used: 10, remaining: 0, reset: periodEnd },
    });
  });

  test("Redis flushed mid-period after the counts were flushed: the next check is still refused", async ({
    services,
  }) => {
    const api = await startApi(services, { AUTHZ_FLUSH_INTERVAL: "100ms" });
    try {
      await onPlan(api, "acme", { id: "pro", monthly_quota: 20 });
      const key = await api.createKey({ user_id: "acme", rate_limit_per_minute: BIG });
      for (let i = 0; i < 4; i++) expect((await check(api, key.key, 5)).status?.code).toBe(0);
      expect((await check(api, key.key, 1)).status?.code).not.toBe(0);
      await new Promise((r) => setTimeout(r, 400)); // one flush interval and then some
      expect(await deleteRedisKeys(services.redisUrl, services.redisPrefix)).toBeGreaterThan(0);
      const after = await check(api, key.key, 1);
      expect(JSON.parse(after.denied_response?.body ?? "{}").error.code).toBe("quota_exceeded");
      expect((await api.request("GET", "/api/users/acme/quota")).body.used).toBe(20);
    } finally {
      await api.stop();
    }
  });

  test("the over-admission bound: units admitted but not yet flushed when Redis loses the counter", async ({
    services,
  }) => {
    // No flush during the test: every admitted unit is still in memory when Redis is flushed.
    const api = await startApi(services, { AUTHZ_FLUSH_INTERVAL: "1h" });
    try {
      await onPlan(api, "acme", { id: "pro", monthly_quota: 20 });
      const key = await api.createKey({ user_id: "acme", rate_limit_per_minute: BIG });
      const unflushed = 12;
      for (let i = 0; i < unflushed / 3; i++) expect((await check(api, key.key, 3)).status?.code).toBe(0);
      await deleteRedisKeys(services.redisUrl, services.redisPrefix);
      let admittedAfter = 0;
      while ((await check(api, key.key, 1)).status?.code === 0) admittedAfter += 1;
      // The rebuilt counter starts from Postgres (0 flushed): the whole quota again, so the
      // over-admission is exactly the unflushed units.
      const overAdmitted = unflushed + admittedAfter - 20;
      expect(overAdmitted).toBe(unflushed);
      console.log(
        `quota over-admission after losing Redis with ${unflushed} units unflushed: ${overAdmitted}`,
      );
    } finally {
      await api.stop();
    }
  });
});

describe("cost per route", () => {
  test("context_extensions.cost counts that many units; an invalid one is a 500 with a log line, never 1", async ({
    api,
  }) => {
    const key = await api.createKey({ user_id: "acme", rate_limit_per_minute: 10 });
    const costly = await check(api, key.key, 3);
    expect(costly.status?.code).toBe(0);
    expect(costly.dynamic_metadata?.fields?.units?.stringValue).toBe("3");
    expect(headerMap(costly.ok_response?.response_headers_to_add)["x-ratelimit-remaining"]).toBe("7");
    for (const bad of ["abc", "0", "-1", "1.5", "1000001", " 3", ""]) {
      const refused = await check(api, key.key, bad);
      expect(refused.denied_response?.status?.code, bad).toBe("InternalServerError");
      expect(JSON.parse(refused.denied_response?.body ?? "{}").error.code).toBe("misconfigured");
    }
    expect(api.logs.join("")).toContain("route misconfigured: context_extensions.cost");
    const plain = await check(api, key.key);
    expect(headerMap(plain.ok_response?.response_headers_to_add)["x-ratelimit-remaining"]).toBe("6");
  });
});
