import { ADMIN_TOKEN, describe, expect, test } from "./fixtures.js";

/** Every management route, with a body that would succeed, built after a key exists. */
function routes(keyId: string) {
  return [
    { method: "POST", path: "/api/keys", body: { user_id: "alice", name: "k" } },
    { method: "GET", path: "/api/keys/alice" },
    { method: "DELETE", path: `/api/keys/${keyId}` },
    { method: "GET", path: `/api/keys/by-id/${keyId}` },
    { method: "PATCH", path: `/api/keys/by-id/${keyId}`, body: { name: "renamed" } },
    { method: "POST", path: `/api/keys/by-id/${keyId}/rotate`, body: {} },
    { method: "PUT", path: "/api/users/alice", body: { stripe_customer_id: "cus_A1" } },
    { method: "GET", path: "/api/audit" },
    { method: "GET", path: "/api/usage?user_id=alice" },
    { method: "GET", path: "/api/openapi.json" },
  ];
}

const basic = Buffer.from(`admin:${ADMIN_TOKEN}`).toString("base64");
const badCredentials: { label: string; token: string | null; headers?: Record<string, string> }[] = [
  { label: "no token", token: null },
  { label: "a wrong token", token: "x".repeat(44) },
  { label: "the token with its last character changed", token: `${ADMIN_TOKEN.slice(0, -1)}X` },
  { label: "the token with a character added", token: `${ADMIN_TOKEN}0` },
  { label: "the token sent as Basic", token: null, headers: { authorization: `Basic ${basic}` } },
  { label: "an empty bearer", token: null, headers: { authorization: "Bearer " } },
];

describe("every /api route refuses without a valid admin token, and changes nothing", () => {
  for (const { label, token, headers } of badCredentials) {
    test(`with ${label}`, async ({ api }) => {
      const key = await api.createKey({ user_id: "alice" });
      const before = await api.rowCounts();
      for (const route of routes(key.id)) {
        const res = await api.request(route.method, route.path, { body: route.body, token, headers });
        expect(res.status, `${route.method} ${route.path}`).toBe(401);
        expect(res.headers.get("content-type")).toContain("application/problem+json");
        expect(res.headers.get("www-authenticate")).toMatch(/^Bearer/);
        expect(res.body.code).toBe("UNAUTHENTICATED");
      }
      expect(await api.rowCounts()).toEqual(before);
    });
  }
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
