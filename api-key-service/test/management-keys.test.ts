import { ManagementKeyAuth } from "../src/management-keys/management-key-auth.js";
import { describe, expect, startApi, test } from "./fixtures.js";
import { postgresWithHeldAnswers } from "./held-answers.js";

describe("management keys", () => {
  test("are created with the secret once, listed and read without it, and revoked idempotently", async ({
    api,
  }) => {
    const created = await api.request("POST", "/api/management-keys", {
      body: {
        name: "portal",
        scopes: ["keys:write", "keys:read", "keys:read"],
        user_id: "acme",
        expires_in: "90d",
      },
    });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe(`/api/management-keys/${created.body.id}`);
    expect(created.body).toMatchObject({
      id: expect.stringMatching(/^mk_[0-9A-Za-z]{22}$/),
      name: "portal",
      scopes: ["keys:read", "keys:write"],
      user_id: "acme",
      status: "active",
      created_by: { type: "admin_token" },
      key: expect.stringMatching(/^gwm_[0-9A-Za-z]{38}$/),
    });
    expect(created.body.start).toBe(created.body.key.slice(0, 10));
    expect(Date.parse(created.body.expires_at) - Date.now()).toBeGreaterThan(89 * 86_400_000);

    const [stored] = await api.query("select key_hash from management_keys where id = $1", [created.body.id]);
    expect(stored.key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.key_hash).not.toContain(created.body.key);

    const listed = await api.request("GET", "/api/management-keys");
    expect(listed.body.data.map((k: { id: string }) => k.id)).toEqual([created.body.id]);
    const got = await api.request("GET", `/api/management-keys/${created.body.id}`);
    expect(got.body).toEqual(listed.body.data[0]);
    expect(JSON.stringify([listed.body, got.body])).not.toContain(created.body.key);

    const revoked = await api.request("DELETE", `/api/management-keys/${created.body.id}`);
    expect(revoked.body.status).toBe("revoked");
    const again = await api.request("DELETE", `/api/management-keys/${created.body.id}`);
    expect(again.body).toEqual(revoked.body);
    const audit = await api.request("GET", "/api/audit?action=management_key.revoked");
    expect(audit.body.data).toHaveLength(1);
    expect(JSON.stringify((await api.request("GET", "/api/audit")).body)).not.toContain(created.body.key);
  });

  test("refuse bad input with a problem naming the field", async ({ api }) => {
    const cases = [
      { body: { name: "x", scopes: [] }, field: "scopes" },
      { body: { name: "x", scopes: ["keys:delete"] }, field: "scopes[0]" },
      { body: { name: "x", scopes: ["admin"], user_id: "acme" }, field: "scopes" },
      { body: { name: "", scopes: ["admin"] }, field: "name" },
      { body: { name: "x", scopes: ["admin"], expires_in: "soon" }, field: "expires_in" },
      { body: { name: "x", scopes: ["admin"], role: "root" }, field: "role" },
    ];
    for (const { body, field } of cases) {
      const res = await api.request("POST", "/api/management-keys", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect((await api.rowCounts()).management_keys).toBe(0);
    expect((await api.request("GET", "/api/management-keys/mk_nope")).status).toBe(404);
  });

  test("every change records its actor; keys record who created them; audit filters by actor", async ({
    api,
  }) => {
    const writer = await api.createManagementKey({ name: "ci bot", scopes: ["keys:write", "users:write"] });
    const actor = { type: "management_key", id: writer.id, name: "ci bot" };
    const asWriter = { token: writer.key };

    const key = (
      await api.request("POST", "/api/keys", { ...asWriter, body: { user_id: "erin", name: "k" } })
    ).body;
    expect(key.created_by).toEqual(actor);
    await api.request("PATCH", `/api/keys/by-id/${key.id}`, { ...asWriter, body: { name: "k2" } });
    await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, { ...asWriter, body: {} });
    await api.request("PUT", "/api/users/erin", { ...asWriter, body: { stripe_customer_id: "cus_E1" } });
    await api.request("DELETE", `/api/keys/${key.id}`, asWriter);
    const byAdmin = await api.createKey({ user_id: "erin" });
    expect(byAdmin.created_by).toEqual({ type: "admin_token" });
    expect((await api.request("GET", `/api/keys/by-id/${key.id}`)).body.created_by).toEqual(actor);

    const mine = await api.request("GET", `/api/audit?actor_id=${writer.id}`);
    expect(mine.body.data.map((e: { action: string }) => e.action)).toEqual([
      "key.revoked",
      "user.billing_updated",
      "key.rotated",
      "key.updated",
      "key.created",
    ]);
    for (const event of mine.body.data) expect(event.actor).toEqual(actor);
    const admin = await api.request("GET", "/api/audit?actor_id=admin_token");
    expect(admin.body.data.map((e: { action: string }) => e.action)).toEqual([
      "key.created",
      "management_key.created",
    ]);
    expect(admin.body.data[1]).toMatchObject({
      management_key_id: writer.id,
      actor: { type: "admin_token" },
    });
    expect((await api.request("GET", "/api/audit?actor_id=someone")).status).toBe(400);
  });

  test("a key bound to a user sees and changes only that user's keys, usage and audit", async ({ api }) => {
    const theirs = await api.createKey({ user_id: "bob" });
    const portal = await api.createManagementKey({
      scopes: [
        "keys:read",
        "keys:write",
        "usage:read",
        "audit:read",
        "users:read",
        "users:write",
        "keys:verify",
      ],
      user_id: "alice",
    });
    const as = { token: portal.key };
    const own = (await api.request("POST", "/api/keys", { ...as, body: { user_id: "alice", name: "mine" } }))
      .body;
    expect(own.user_id).toBe("alice");
    const foreign = await api.request("POST", "/api/keys", { ...as, body: { user_id: "bob", name: "x" } });
    expect(foreign.status).toBe(403);

    const search = await api.request("GET", "/api/keys", as);
    expect(search.body.data.map((k: { id: string }) => k.id)).toEqual([own.id]);
    expect((await api.request("GET", "/api/keys?user_id=bob", as)).status).toBe(404);
    expect((await api.request("GET", "/api/keys/bob", as)).status).toBe(404);
    expect((await api.request("GET", "/api/keys/alice", as)).body.data).toHaveLength(1);

    const before = await api.rowCounts();
    for (const [method, path, body] of [
      ["GET", `/api/keys/by-id/${theirs.id}`],
      ["PATCH", `/api/keys/by-id/${theirs.id}`, { name: "stolen" }],
      ["POST", `/api/keys/by-id/${theirs.id}/rotate`, {}],
      ["DELETE", `/api/keys/${theirs.id}`],
      ["PUT", "/api/users/bob", { stripe_customer_id: "cus_B1" }],
      ["GET", "/api/users/bob"],
      ["GET", `/api/usage?key_id=${theirs.id}`],
      ["GET", "/api/usage?user_id=bob"],
      ["GET", "/api/audit?user_id=bob"],
    ] as const) {
      const res = await api.request(method, path, { ...as, body });
      expect(res.status, `${method} ${path}`).toBe(404);
      expect(res.text).not.toContain(theirs.key);
    }
    expect(await api.rowCounts()).toEqual(before);
    expect((await api.request("GET", "/api/usage?stripe_customer_id=cus_B1", as)).status).toBe(403);

    const users = await api.request("GET", "/api/users", as);
    expect(users.body.data.map((u: { user_id: string }) => u.user_id)).toEqual(["alice"]);
    const audit = await api.request("GET", "/api/audit", as);
    expect(new Set(audit.body.data.map((e: { user_id: string }) => e.user_id))).toEqual(new Set(["alice"]));
    expect((await api.request("GET", `/api/usage?key_id=${own.id}`, as)).status).toBe(200);

    const verified = await api.request("POST", "/v1/keys/verify", { ...as, body: { key: theirs.key } });
    expect(verified.body).toEqual({ valid: false, code: "NOT_FOUND" });
    const ownVerified = await api.request("POST", "/v1/keys/verify", { ...as, body: { key: own.key } });
    expect(ownVerified.body).toMatchObject({ valid: true, code: "VALID", key_id: own.id });
  });

  test("wrong management keys count as failed authentications, like wrong admin tokens", async ({
    services,
  }) => {
    const api = await startApi(services, { ADMIN_AUTH_MAX_FAILURES: "3" });
    try {
      const revoked = await api.createManagementKey({ scopes: ["keys:read"] });
      await api.request("DELETE", `/api/management-keys/${revoked.id}`);
      const statuses = [];
      for (let i = 0; i < 4; i++)
        statuses.push((await api.request("GET", "/api/keys", { token: revoked.key })).status);
      expect(statuses).toEqual([401, 401, 401, 429]);
    } finally {
      await api.stop();
    }
  });
});

describe("two replicas", () => {
  test("a management key revoked through one is refused by the other within a second", async ({
    api,
    services,
  }) => {
    const other = await startApi(services);
    try {
      const key = await api.createManagementKey({ scopes: ["keys:read"] });
      expect((await other.request("GET", "/api/keys", { token: key.key })).status).toBe(200); // cached there
      const revokedAt = performance.now();
      expect((await api.request("DELETE", `/api/management-keys/${key.id}`)).status).toBe(200);
      let refusedAfterMs = Number.POSITIVE_INFINITY;
      while (performance.now() - revokedAt < 2_000) {
        if ((await other.request("GET", "/api/keys", { token: key.key })).status === 401) {
          refusedAfterMs = performance.now() - revokedAt;
          break;
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      expect(refusedAfterMs).toBeLessThan(1_000);
    } finally {
      await other.stop();
    }
  });
});

describe("a management key revoked while its lookup reads Postgres", () => {
  test("the request that raced the revocation passes; the next is refused, not served from the cache", async ({
    api,
  }) => {
    const created = await api.request("POST", "/api/management-keys", {
      body: { name: "racer", scopes: ["keys:read"] },
    });
    expect(created.status).toBe(201);
    const postgres = await postgresWithHeldAnswers(api.databaseUrl);
    const auth = new ManagementKeyAuth(postgres.db, { ttlMs: 300_000, negativeTtlMs: 5_000 });
    try {
      const first = await postgres.hold("management_keys", () => auth.check(created.body.key));
      expect((await api.request("DELETE", `/api/management-keys/${created.body.id}`)).status).toBe(200);
      auth.evict(created.body.id); // what the revocation's invalidation message does on every replica
      postgres.release();
      expect((await first.pending).kind).toBe("valid");
      expect((await auth.check(created.body.key)).kind).toBe("revoked");
    } finally {
      await postgres.close();
    }
  });
});
