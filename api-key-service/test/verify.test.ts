import { DECISION_CASES } from "./decision-cases.js";
import { bearer, envoyCheckRequest } from "./envoy.js";
import { type Api, describe, expect, startApi, test } from "./fixtures.js";

const verify = (api: Api, body: Record<string, unknown>) => api.request("POST", "/v1/keys/verify", { body });

async function checkCode(api: Api, secret: string, scopes: string[] = []): Promise<string> {
  const response = await api.check(
    envoyCheckRequest({ headers: bearer(secret), contextExtensions: { required_scopes: scopes.join(",") } }),
  );
  if (response.status?.code === 0) return "";
  return JSON.parse(response.denied_response?.body ?? "{}").error.code;
}

describe("the verify API and Check decide alike", () => {
  for (const c of DECISION_CASES) {
    test(c.name, async ({ api }) => {
      const { secret, scopes = [] } = await c.setup(api);
      expect(await checkCode(api, secret, scopes)).toBe(c.check);
      const res = await verify(api, { key: secret, required_scopes: scopes });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(c.verify);
      expect(res.body.valid).toBe(c.verify === "VALID");
    });
  }

  test("with Redis gone and the failure mode closed, both answer unavailable", async ({ services }) => {
    const api = await startApi(services, {
      REDIS_URL: "redis://127.0.0.1:1",
      RATE_LIMIT_FAILURE_MODE: "closed",
      REDIS_TIMEOUT: "100ms",
    });
    try {
      const key = await api.createKey();
      expect(await checkCode(api, key.key)).toBe("unavailable");
      expect((await verify(api, { key: key.key })).body).toMatchObject({ valid: false, code: "UNAVAILABLE" });
    } finally {
      await api.stop();
    }
  });
});

describe("POST /v1/keys/verify", () => {
  test("answers the key's identity, scopes and the tightest window", async ({ api }) => {
    const key = await api.createKey({
      user_id: "acme",
      scopes: ["write", "read"],
      rate_limit_per_minute: 10,
    });
    const before = Date.now();
    const res = await verify(api, { key: key.key, cost: 4 });
    expect(res.body).toEqual({
      valid: true,
      code: "VALID",
      key_id: key.id,
      user_id: "acme",
      scopes: ["read", "write"],
      rate_limit: { limit: 10, remaining: 6, reset: expect.any(Number) },
    });
    expect(res.body.rate_limit.reset - before).toBeGreaterThan(59_000);
    expect(res.body.rate_limit.reset - before).toBeLessThan(63_000);
    const over = await verify(api, { key: key.key, cost: 7 });
    expect(over.body).toMatchObject({ valid: false, code: "RATE_LIMITED", rate_limit: { remaining: 6 } });
  });

  test("consume:false reads the limits without counting them", async ({ api }) => {
    const key = await api.createKey({ rate_limit_per_minute: 3 });
    for (let i = 0; i < 5; i++) {
      const res = await verify(api, { key: key.key, consume: false });
      expect(res.body).toMatchObject({ valid: true, rate_limit: { limit: 3, remaining: 3 } });
    }
    const codes = [];
    for (let i = 0; i < 4; i++) codes.push(await checkCode(api, key.key));
    expect(codes).toEqual(["", "", "", "rate_limited"]);
    const peek = await verify(api, { key: key.key, consume: false });
    expect(peek.body).toMatchObject({ valid: false, code: "RATE_LIMITED", rate_limit: { remaining: 0 } });
  });

  test("refuses a malformed request with a problem, and never logs or audits the key", async ({ api }) => {
    const key = await api.createKey();
    const auditBefore = (await api.rowCounts()).audit_events;
    for (const body of [
      {},
      { key: "" },
      { key: 42 },
      { key: key.key, cost: 0 },
      { key: key.key, cost: 1.5 },
      { key: key.key, cost: 1_000_001 },
      { key: key.key, consume: "no" },
      { key: key.key, required_scopes: "read" },
      { key: key.key, extra: true },
    ]) {
      const res = await verify(api, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get("content-type")).toContain("application/problem+json");
    }
    expect((await api.request("POST", "/v1/keys/verify", { raw: "{nope" })).status).toBe(400);
    await verify(api, { key: key.key });
    expect((await api.rowCounts()).audit_events).toBe(auditBefore);
    expect(api.logs.join("\n")).not.toContain(key.key);
  });
});
