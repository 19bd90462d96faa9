import { describe, expect, test } from "./fixtures.js";

describe("POST /api/keys", () => {
  test("creates a key and shows its secret once", async ({ api }) => {
    const res = await api.request("POST", "/api/keys", {
      body: {
        user_id: "user_42",
        name: "production",
        rate_limit_per_minute: 120,
        scopes: ["write", "read", "read"],
        expires_in: "30d",
        metadata: { plan: "pro", seats: 3 },
      },
    });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      user_id: "user_42",
      name: "production",
      status: "active",
      enabled: true,
      scopes: ["read", "write"],
      rate_limit_per_minute: 120,
      rate_limit_per_day: null,
      metadata: { plan: "pro", seats: 3 },
      revoked_at: null,
    });
    expect(res.body.id).toMatch(/^key_[0-9A-Za-z]{22}$/);
    expect(res.body.key).toMatch(/^gw_[0-9A-Za-z]{38}$/);
    expect(res.body.key.startsWith(res.body.start)).toBe(true);
    expect(res.headers.get("location")).toBe(`/api/keys/by-id/${res.body.id}`);
    const days = (Date.parse(res.body.expires_at) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);

    const fetched = await api.request("GET", `/api/keys/by-id/${res.body.id}`);
    expect(fetched.status).toBe(200);
    expect(fetched.body.key).toBeUndefined();
    expect(JSON.stringify(fetched.body)).not.toContain(res.body.key);
  });

  test("expires_at in the past is refused", async ({ api }) => {
    const res = await api.request("POST", "/api/keys", {
      body: { user_id: "u1", name: "old", expires_at: "2001-01-01T00:00:00Z" },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([{ field: "expires_at", message: "must be in the future" }]);
  });

  test("expires_in never means no expiry", async ({ api }) => {
    const key = await api.createKey({ expires_in: "never" });
    expect(key.expires_at).toBeNull();
  });
});

describe("GET /api/keys/:user_id", () => {
  test("lists only that user's keys, newest first, in pages", async ({ api }) => {
    const created = [];
    for (let i = 0; i < 5; i++) created.push(await api.createKey({ user_id: "alice", name: `k${i}` }));
    await api.createKey({ user_id: "bob", name: "bob's" });

    const first = await api.request("GET", "/api/keys/alice?limit=2");
    expect(first.status).toBe(200);
    expect(first.body.data.map((k: { name: string }) => k.name)).toEqual(["k4", "k3"]);
    expect(first.body.next_cursor).toEqual(expect.any(String));

    const second = await api.request("GET", `/api/keys/alice?limit=2&cursor=${first.body.next_cursor}`);
    const third = await api.request("GET", `/api/keys/alice?limit=2&cursor=${second.body.next_cursor}`);
    expect(second.body.data.map((k: { name: string }) => k.name)).toEqual(["k2", "k1"]);
    expect(third.body.data.map((k: { name: string }) => k.name)).toEqual(["k0"]);
    expect(third.body.next_cursor).toBeNull();

    const all = [...first.body.data, ...second.body.data, ...third.body.data];
    expect(all.every((k: { user_id: string }) => k.user_id === "alice")).toBe(true);
    expect(JSON.stringify(all)).not.toMatch(/gw_[0-9A-Za-z]{38}/);
  });

  test("a user with no keys gets an empty page", async ({ api }) => {
    const res = await api.request("GET", "/api/keys/nobody");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: [], next_cursor: null });
  });

  test("a forged cursor is a 400, not a 500", async ({ api }) => {
    for (const cursor of ["nonsense", Buffer.from('{"created_at":"x","id":"y"}').toString("base64url")]) {
      const res = await api.request("GET", `/api/keys/alice?cursor=${cursor}`);
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toBe("cursor");
    }
  });
});

describe("PATCH /api/keys/by-id/:id", () => {
  test("updates name, limits, scopes, metadata, expiry and enabled", async ({ api }) => {
    const key = await api.createKey({ rate_limit_per_minute: 10 });
    const res = await api.request("PATCH", `/api/keys/by-id/${key.id}`, {
      body: {
        name: "renamed",
        rate_limit_per_minute: null,
        rate_limit_per_day: 5000,
        scopes: ["admin"],
        metadata: { team: "search" },
        expires_at: "2099-01-01T00:00:00Z",
        enabled: false,
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      name: "renamed",
      rate_limit_per_minute: null,
      rate_limit_per_day: 5000,
      scopes: ["admin"],
      metadata: { team: "search" },
      expires_at: "2099-01-01T00:00:00.000Z",
      enabled: false,
      status: "disabled",
    });
    const again = await api.request("GET", `/api/keys/by-id/${key.id}`);
    expect(again.body).toEqual(res.body);
  });

  test("a revoked key cannot be changed", async ({ api }) => {
    const key = await api.createKey();
    await api.request("DELETE", `/api/keys/${key.id}`);
    const res = await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { name: "x" } });
    expect(res.status).toBe(409);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });
});

describe("POST /api/keys/by-id/:id/rotate", () => {
  test("issues a new secret and keeps the old one valid for the grace period", async ({ api }) => {
    const key = await api.createKey();
    const res = await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, {
      body: { grace_period: "1h" },
    });
    expect(res.status).toBe(200);
    expect(res.body.id).toBe(key.id);
    expect(res.body.key).toMatch(/^gw_/);
    expect(res.body.key).not.toBe(key.key);
    expect(res.body.rotated_at).toEqual(expect.any(String));
    const graceMinutes = (Date.parse(res.body.previous_key_expires_at) - Date.now()) / 60_000;
    expect(graceMinutes).toBeGreaterThan(59);
    expect(graceMinutes).toBeLessThanOrEqual(60);
  });

  test("without a body uses the configured grace period; 0s ends the old secret at once", async ({ api }) => {
    const key = await api.createKey();
    const defaulted = await api.request("POST", `/api/keys/by-id/${key.id}/rotate`);
    expect(defaulted.status).toBe(200);
    const hours = (Date.parse(defaulted.body.previous_key_expires_at) - Date.now()) / 3_600_000;
    expect(Math.round(hours)).toBe(24);
    const immediate = await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, {
      body: { grace_period: "0s" },
    });
    expect(immediate.body.previous_key_expires_at).toBeNull();
  });

  test("a revoked key cannot be rotated", async ({ api }) => {
    const key = await api.createKey();
    await api.request("DELETE", `/api/keys/${key.id}`);
    const res = await api.request("POST", `/api/keys/by-id/${key.id}/rotate`);
    expect(res.status).toBe(409);
  });
});

describe("DELETE /api/keys/:id", () => {
  test("revokes, and is idempotent", async ({ api }) => {
    const key = await api.createKey();
    const first = await api.request("DELETE", `/api/keys/${key.id}`);
    expect(first.status).toBe(200);
    expect(first.body.status).toBe("revoked");
    expect(first.body.revoked_at).toEqual(expect.any(String));
    const second = await api.request("DELETE", `/api/keys/${key.id}`);
    expect(second.status).toBe(200);
    expect(second.body.revoked_at).toBe(first.body.revoked_at);
    const audit = await api.request("GET", `/api/audit?key_id=${key.id}&action=key.revoked`);
    expect(audit.body.data).toHaveLength(1);
  });

  test("an unknown or malformed id is a 404", async ({ api }) => {
    for (const id of ["key_0000000000000000000000", "nope", "key_'%3B--"]) {
      const res = await api.request("DELETE", `/api/keys/${id}`);
      expect(res.status, id).toBe(404);
      expect(res.body.code).toBe("NOT_FOUND");
    }
  });
});

describe("PUT /api/users/:user_id", () => {
  test("sets and clears the Stripe customer a user's keys bill to", async ({ api }) => {
    const set = await api.request("PUT", "/api/users/acct_7", {
      body: { stripe_customer_id: "cus_NffrFeUfNV2Hib" },
    });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({ user_id: "acct_7", stripe_customer_id: "cus_NffrFeUfNV2Hib" });
    const cleared = await api.request("PUT", "/api/users/acct_7", { body: { stripe_customer_id: null } });
    expect(cleared.body.stripe_customer_id).toBeNull();
  });

  test("refuses something that is not a customer id", async ({ api }) => {
    const res = await api.request("PUT", "/api/users/acct_7", {
      body: { stripe_customer_id: "sk_live_oops" },
    });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].field).toBe("stripe_customer_id");
  });
});
