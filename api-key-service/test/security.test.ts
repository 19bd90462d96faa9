import { SCOPES, type Scope } from "../src/access/scopes.js";
import { KeyFormat } from "../src/keys/key-format.js";
import { ADMIN_TOKEN, describe, expect, test } from "./fixtures.js";
import { guardedRoutes, routes, sampleFor } from "./routes.js";

const basic = Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64");
const badCredentials: { label: string; token: string | null; headers?: Record<string, string> }[] = [
  { label: "no token", token: null },
  { label: "a wrong token", token: "x".repeat(44) },
  { label: "the token with its last character changed", token: `${ADMIN_TOKEN.slice(0, -1)}X` },
  { label: "the token with a character added", token: `${ADMIN_TOKEN}0` },
  { label: "the token sent as Basic", token: null, headers: { authorization: `Basic ${basic}` } },
  { label: "an empty bearer", token: null, headers: { authorization: "Bearer " } },
  { label: "a well-formed management key that does not exist", token: new KeyFormat("gwm").generate() },
];

describe("every guarded route refuses without a valid credential, and changes nothing", () => {
  for (const { label, token, headers } of badCredentials) {
    test(`with ${label}`, async ({ api }) => {
      const requests = [];
      for (const route of guardedRoutes) requests.push({ route, sample: await sampleFor(route)(api) });
      const before = await api.rowCounts();
      for (const { route, sample } of requests) {
        const res = await api.request(route.method.toUpperCase(), sample.path, {
          body: sample.body,
          token,
          headers,
        });
        expect(res.status, `${route.method} ${route.path}`).toBe(401);
        expect(res.headers.get("content-type")).toContain("application/problem+json");
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(res.body.code).toBe("UNAUTHENTICATED");
      }
      expect(await api.rowCounts()).toEqual(before);
    });
  }

  test("the OpenAPI document alone is public", async ({ api }) => {
    const res = await api.request("GET", "/api/openapi.json", { token: null });
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe("3.1.0");
    expect(routes.filter((r) => r.scope === null).map((r) => r.path)).toEqual(["/api/openapi.json"]);
  });
});

describe("the scope matrix", () => {
  test("on every guarded route, its own scope and admin pass; every other scope is 403 naming the scope", async ({
    api,
  }) => {
    const tokens = new Map<Scope, string>();
    for (const scope of SCOPES) tokens.set(scope, (await api.createManagementKey({ scopes: [scope] })).key);
    for (const route of guardedRoutes) {
      for (const scope of SCOPES) {
        const sample = await sampleFor(route)(api);
        const label = `${route.method} ${route.path} with ${scope}`;
        const res = await api.request(route.method.toUpperCase(), sample.path, {
          body: sample.body,
          token: tokens.get(scope),
        });
        if (scope === route.scope || scope === "admin") {
          expect(res.status, `${label}: ${res.text.slice(0, 200)}`).toBeLessThan(300);
        } else {
          expect(res.status, label).toBe(403);
          expect(res.body, label).toMatchObject({
            code: "FORBIDDEN",
            detail: expect.stringContaining(route.scope ?? ""),
          });
        }
      }
    }
  });

  test("a revoked or expired management key is 401 on every guarded route", async ({ api }) => {
    const revoked = await api.createManagementKey({ scopes: ["admin"] });
    await api.request("DELETE", `/api/management-keys/${revoked.id}`);
    const expired = await api.createManagementKey({ scopes: ["admin"], expires_in: "1h" });
    await api.query("update management_keys set expires_at = now() - interval '1 second' where id = $1", [
      expired.id,
    ]);
    for (const [label, key] of [
      ["revoked", revoked],
      ["expired", expired],
    ] as const) {
      for (const route of guardedRoutes) {
        const sample = await sampleFor(route)(api);
        const res = await api.request(route.method.toUpperCase(), sample.path, {
          body: sample.body,
          token: key.key,
        });
        expect(res.status, `${label}: ${route.method} ${route.path}`).toBe(401);
        expect(res.body.detail).toContain(label);
      }
    }
  });
});

describe("another user's key", () => {
  test("is not listed, and routes guarded with ?user_id= answer 404 and change nothing", async ({ api }) => {
    const bobs = await api.createKey({ user_id: "bob" });
    await api.createKey({ user_id: "alice" });
    const listed = await api.request("GET", "/api/keys/alice");
    expect(listed.body.data.map((k: { user_id: string }) => k.user_id)).toEqual(["alice"]);

    const before = await api.rowCounts();
    const guarded = [
      { method: "GET", path: `/api/keys/by-id/${bobs.id}?user_id=alice` },
      { method: "PATCH", path: `/api/keys/by-id/${bobs.id}?user_id=alice`, body: { name: "stolen" } },
      { method: "POST", path: `/api/keys/by-id/${bobs.id}/rotate?user_id=alice` },
      { method: "DELETE", path: `/api/keys/${bobs.id}?user_id=alice` },
    ];
    for (const route of guarded) {
      const res = await api.request(route.method, route.path, { body: route.body });
      expect(res.status, `${route.method} ${route.path}`).toBe(404);
      expect(JSON.stringify(res.body)).not.toContain("bob");
    }
    expect(await api.rowCounts()).toEqual(before);
    const still = await api.request("GET", `/api/keys/by-id/${bobs.id}?user_id=bob`);
    expect(still.body).toMatchObject({ name: "test key", status: "active" });
  });
});

describe("a revoked key", () => {
  test("can be read but not updated or rotated, and revoking again changes nothing", async ({ api }) => {
    const key = await api.createKey();
    await api.request("DELETE", `/api/keys/${key.id}`);
    const before = await api.rowCounts();
    expect((await api.request("GET", `/api/keys/by-id/${key.id}`)).body.status).toBe("revoked");
    expect(
      (await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { enabled: true } })).status,
    ).toBe(409);
    expect((await api.request("POST", `/api/keys/by-id/${key.id}/rotate`)).status).toBe(409);
    expect((await api.request("DELETE", `/api/keys/${key.id}`)).status).toBe(200);
    expect(await api.rowCounts()).toEqual(before);
  });
});

describe("response headers", () => {
  test("security headers, no caching and a request id on every answer, errors included", async ({ api }) => {
    const answers = [
      await api.request("GET", "/health"),
      await api.request("GET", "/api/keys/alice"),
      await api.request("GET", "/api/keys/alice", { token: null }),
      await api.request("GET", "/no/such/route"),
    ];
    for (const res of answers) {
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
      expect(res.headers.get("strict-transport-security")).toContain("max-age=");
      expect(res.headers.get("content-security-policy")).toContain("default-src");
      expect(res.headers.get("x-powered-by")).toBeNull();
      expect(res.headers.get("access-control-allow-origin")).toBeNull();
      expect(res.headers.get("x-request-id")).toEqual(expect.any(String));
    }
    expect(answers[1]?.headers.get("cache-control")).toBe("no-store");
  });

  test("a caller's x-request-id is honoured and echoed; a malformed one is replaced", async ({ api }) => {
    const kept = await api.request("GET", "/api/keys/alice", { headers: { "x-request-id": "req-123.abc" } });
    expect(kept.headers.get("x-request-id")).toBe("req-123.abc");
    const replaced = await api.request("GET", "/api/keys/alice", {
      headers: { "x-request-id": "bad id <script>" },
    });
    expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const problem = await api.request("GET", "/api/keys/alice", {
      token: null,
      headers: { "x-request-id": "req-9" },
    });
    expect(problem.body.request_id).toBe("req-9");
  });
});
