import { describe, expect, test } from "./fixtures.js";

type Case = {
  label: string;
  method: string;
  path: string;
  raw?: string | Buffer;
  body?: unknown;
  contentType?: string;
};

function expectProblem(res: { status: number; headers: Headers; body: any }, status: number, label: string) {
  expect(res.status, label).toBe(status);
  expect(res.headers.get("content-type"), label).toContain("application/problem+json");
  expect(res.body.status, label).toBe(status);
  expect(res.body.detail, label).toEqual(expect.any(String));
}

const valid = { user_id: "u1", name: "k" };

const createCases: (Case & { status: number; field?: string })[] = [
  { label: "invalid JSON", method: "POST", path: "/api/keys", raw: '{"user_id": "u1", ', status: 400 },
  { label: "a JSON array", method: "POST", path: "/api/keys", body: [valid], status: 400 },
  { label: "a JSON string", method: "POST", path: "/api/keys", raw: '"hello"', status: 400 },
  { label: "null", method: "POST", path: "/api/keys", raw: "null", status: 400 },
  { label: "an empty body", method: "POST", path: "/api/keys", status: 400, field: "user_id" },
  {
    label: "form encoding",
    method: "POST",
    path: "/api/keys",
    raw: "user_id=u1&name=k",
    contentType: "application/x-www-form-urlencoded",
    status: 415,
  },
  {
    label: "JSON in another charset than UTF-8",
    method: "PATCH",
    path: "/api/keys/by-id/key_0000000000000000000000",
    raw: "{",
    contentType: "application/json; charset=utf-16",
    status: 415,
  },
  {
    label: "plain text",
    method: "POST",
    path: "/api/keys",
    raw: JSON.stringify(valid),
    contentType: "text/plain",
    status: 415,
  },
  {
    label: "name of the wrong type",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, name: 42 },
    status: 400,
    field: "name",
  },
  {
    label: "an unknown field",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, is_admin: true },
    status: 400,
    field: "is_admin",
  },
  {
    label: "a negative limit",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, rate_limit_per_minute: -1 },
    status: 400,
    field: "rate_limit_per_minute",
  },
  {
    label: "a zero limit",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, rate_limit_per_day: 0 },
    status: 400,
    field: "rate_limit_per_day",
  },
  {
    label: "an absurd limit",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, rate_limit_per_day: 1e12 },
    status: 400,
    field: "rate_limit_per_day",
  },
  {
    label: "a fractional limit",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, rate_limit_per_minute: 1.5 },
    status: 400,
    field: "rate_limit_per_minute",
  },
  {
    label: "a limit as a string",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, rate_limit_per_minute: "10" },
    status: 400,
    field: "rate_limit_per_minute",
  },
  {
    label: "SQL in user_id",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, user_id: "u1'; DROP TABLE api_keys; --" },
    status: 400,
    field: "user_id",
  },
  {
    label: "unicode in user_id",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, user_id: "usér_😀" },
    status: 400,
    field: "user_id",
  },
  {
    label: "an empty user_id",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, user_id: "" },
    status: 400,
    field: "user_id",
  },
  {
    label: "a 129-character user_id",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, user_id: "u".repeat(129) },
    status: 400,
    field: "user_id",
  },
  {
    label: "a NUL in the name",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, name: "a\u0000b" },
    status: 400,
  },
  {
    label: "control characters in the name",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, name: "a\u0007b" },
    status: 400,
    field: "name",
  },
  {
    label: "a blank name",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, name: "   " },
    status: 400,
    field: "name",
  },
  {
    label: "a 201-character name",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, name: "n".repeat(201) },
    status: 400,
    field: "name",
  },
  {
    label: "a bad scope",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, scopes: ["ok", "not ok"] },
    status: 400,
    field: "scopes[1]",
  },
  {
    label: "scopes not a list",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, scopes: "read" },
    status: 400,
    field: "scopes",
  },
  {
    label: "a bad expires_in",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, expires_in: "forever" },
    status: 400,
    field: "expires_in",
  },
  {
    label: "a bad expires_at",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, expires_at: "tomorrow" },
    status: 400,
    field: "expires_at",
  },
  {
    label: "both expiries",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, expires_in: "30d", expires_at: "2099-01-01T00:00:00Z" },
    status: 400,
    field: "expires_in",
  },
  {
    label: "metadata not an object",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, metadata: [1, 2] },
    status: 400,
    field: "metadata",
  },
  {
    label: "huge metadata",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, metadata: { blob: "x".repeat(20_000) } },
    status: 400,
    field: "metadata",
  },
  {
    label: "deeply nested JSON",
    method: "POST",
    path: "/api/keys",
    raw: `{"user_id":"u1","name":"k","metadata":${'{"a":'.repeat(5000)}1${"}".repeat(5000)}}`,
    status: 400,
  },
  {
    label: "a NUL inside metadata",
    method: "POST",
    path: "/api/keys",
    raw: '{"user_id":"u1","name":"k","metadata":{"a":"\\u0000"}}',
    status: 400,
  },
  {
    label: "a bad Stripe customer",
    method: "POST",
    path: "/api/keys",
    body: { ...valid, stripe_customer_id: "cus_'--" },
    status: 400,
    field: "stripe_customer_id",
  },
];

describe("bad input to POST /api/keys is a 4xx problem that writes nothing", () => {
  test.for(createCases)(
    "$label → $status",
    async ({ label, method, path, raw, body, contentType, status, field }, { api }) => {
      const before = await api.rowCounts();
      const res = await api.request(method, path, { raw, body, contentType });
      expectProblem(res, status, label);
      if (field) expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      expect(await api.rowCounts()).toEqual(before);
    },
  );

  test("a 2 MB body is refused with 413", async ({ api }) => {
    const before = await api.rowCounts();
    const res = await api.request("POST", "/api/keys", {
      raw: JSON.stringify({ ...valid, name: "x".repeat(2 * 1024 * 1024) }),
    });
    expectProblem(res, 413, "2 MB body");
    expect(await api.rowCounts()).toEqual(before);
  });
});

describe("bad input elsewhere", () => {
  test("update, rotate, user billing, listing and audit refuse bad input without writing", async ({
    api,
  }) => {
    const key = await api.createKey();
    const before = await api.rowCounts();
    const cases: (Case & { status: number })[] = [
      {
        label: "update: unknown field",
        method: "PATCH",
        path: `/api/keys/by-id/${key.id}`,
        body: { user_id: "someone-else" },
        status: 400,
      },
      {
        label: "update: enabled not a boolean",
        method: "PATCH",
        path: `/api/keys/by-id/${key.id}`,
        body: { enabled: "yes" },
        status: 400,
      },
      {
        label: "update: invalid JSON",
        method: "PATCH",
        path: `/api/keys/by-id/${key.id}`,
        raw: "{",
        status: 400,
      },
      {
        label: "rotate: absurd grace",
        method: "POST",
        path: `/api/keys/by-id/${key.id}/rotate`,
        body: { grace_period: "999d" },
        status: 400,
      },
      {
        label: "rotate: grace not a duration",
        method: "POST",
        path: `/api/keys/by-id/${key.id}/rotate`,
        body: { grace_period: 5 },
        status: 400,
      },
      {
        label: "billing: SQL in user_id",
        method: "PUT",
        path: "/api/users/x'%3B%20DROP%20TABLE%20users",
        body: { stripe_customer_id: null },
        status: 400,
      },
      { label: "billing: missing field", method: "PUT", path: "/api/users/alice", body: {}, status: 400 },
      {
        label: "list: unicode user_id",
        method: "GET",
        path: `/api/keys/${encodeURIComponent("ユーザー")}`,
        status: 400,
      },
      { label: "list: limit too large", method: "GET", path: "/api/keys/alice?limit=100000", status: 400 },
      { label: "list: limit not a number", method: "GET", path: "/api/keys/alice?limit=abc", status: 400 },
      { label: "list: repeated limit", method: "GET", path: "/api/keys/alice?limit=1&limit=2", status: 400 },
      { label: "list: unknown query", method: "GET", path: "/api/keys/alice?sort=name", status: 400 },
      { label: "path: broken percent-encoding", method: "GET", path: "/api/keys/%E0%A4%A", status: 400 },
      { label: "path: NUL", method: "GET", path: "/api/keys/a%00b", status: 400 },
      { label: "audit: bad key id", method: "GET", path: "/api/audit?key_id=1%27%20OR%201%3D1", status: 400 },
      { label: "audit: unknown action", method: "GET", path: "/api/audit?action=key.deleted", status: 400 },
      {
        label: "key id with traversal",
        method: "GET",
        path: "/api/keys/by-id/..%2F..%2Fetc%2Fpasswd",
        status: 404,
      },
      { label: "unknown route", method: "POST", path: "/api/keys/by-id", status: 404 },
    ];
    for (const c of cases) {
      const res = await api.request(c.method, c.path, { raw: c.raw, body: c.body });
      expectProblem(res, c.status, c.label);
    }
    expect(await api.rowCounts()).toEqual(before);
  });

  test("SQL metacharacters and unicode in a name are stored verbatim, harmlessly", async ({ api }) => {
    const name = "Robert'); DROP TABLE api_keys; -- Clé 🔑 ключ";
    const key = await api.createKey({ name });
    expect(key.name).toBe(name);
    const fetched = await api.request("GET", `/api/keys/by-id/${key.id}`);
    expect(fetched.body.name).toBe(name);
    expect((await api.rowCounts()).api_keys).toBe(1);
  });
});
