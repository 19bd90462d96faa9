import { describe, expect, test } from "./fixtures.js";

describe("the audit log", () => {
  test("records every change with who, what, when, request id and client address", async ({ api }) => {
    const created = await api.request("POST", "/api/keys", {
      body: { user_id: "carol", name: "k", rate_limit_per_minute: 5 },
      headers: { "x-request-id": "req-create" },
    });
    const id = created.body.id;
    await api.request("PATCH", `/api/keys/by-id/${id}`, {
      body: { rate_limit_per_minute: 50 },
      headers: { "x-request-id": "req-update" },
    });
    await api.request("POST", `/api/keys/by-id/${id}/rotate`, { headers: { "x-request-id": "req-rotate" } });
    await api.request("DELETE", `/api/keys/${id}`, { headers: { "x-request-id": "req-revoke" } });
    await api.request("PUT", "/api/users/carol", {
      body: { stripe_customer_id: "cus_C1" },
      headers: { "x-request-id": "req-billing" },
    });

    const res = await api.request("GET", "/api/audit?user_id=carol");
    expect(res.status).toBe(200);
    expect(
      res.body.data.map((e: { action: string; request_id: string }) => [e.action, e.request_id]),
    ).toEqual([
      ["user.billing_updated", "req-billing"],
      ["key.revoked", "req-revoke"],
      ["key.rotated", "req-rotate"],
      ["key.updated", "req-update"],
      ["key.created", "req-create"],
    ]);
    for (const event of res.body.data) {
      expect(event.client_ip).toMatch(/127\.0\.0\.1/);
      expect(Date.now() - Date.parse(event.occurred_at)).toBeLessThan(60_000);
    }
    const update = res.body.data.find((e: { action: string }) => e.action === "key.updated");
    expect(update).toMatchObject({ key_id: id, changes: { rate_limit_per_minute: { from: 5, to: 50 } } });
    const billing = res.body.data[0];
    expect(billing.changes).toEqual({ stripe_customer_id: { from: null, to: "cus_C1" } });
    expect(JSON.stringify(res.body)).not.toContain(created.body.key);
  });

  test("filters by key and action, and pages newest first", async ({ api }) => {
    const a = await api.createKey({ user_id: "dave" });
    const b = await api.createKey({ user_id: "dave" });
    for (let i = 0; i < 3; i++)
      await api.request("PATCH", `/api/keys/by-id/${a.id}`, { body: { name: `a${i}` } });

    const byKey = await api.request("GET", `/api/audit?key_id=${b.id}`);
    expect(byKey.body.data).toHaveLength(1);
    expect(byKey.body.data[0]).toMatchObject({ key_id: b.id, action: "key.created" });

    const page1 = await api.request("GET", `/api/audit?key_id=${a.id}&action=key.updated&limit=2`);
    const page2 = await api.request(
      "GET",
      `/api/audit?key_id=${a.id}&action=key.updated&limit=2&cursor=${page1.body.next_cursor}`,
    );
    const names = [...page1.body.data, ...page2.body.data].map((e: any) => e.changes.name.to);
    expect(names).toEqual(["a2", "a1", "a0"]);
    expect(page2.body.next_cursor).toBeNull();
  });

  test("an update that changes nothing records nothing", async ({ api }) => {
    const key = await api.createKey({ name: "same" });
    const res = await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { name: "same" } });
    expect(res.status).toBe(200);
    const events = await api.request("GET", `/api/audit?key_id=${key.id}`);
    expect(events.body.data.map((e: { action: string }) => e.action)).toEqual(["key.created"]);
  });

  test("a change and its audit event commit together: a failed audit write leaves the key untouched", async ({
    api,
  }) => {
    const key = await api.createKey({ name: "before" });
    // Make the audit insert fail, as a full disk or a dropped table would.
    await api.query(`alter table audit_events add constraint no_updates check (action <> 'key.updated')`);
    const res = await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { name: "after" } });
    expect(res.status).toBe(500);
    expect(res.body.detail).not.toContain("no_updates");
    expect(res.body.request_id).toEqual(expect.any(String));
    const [row] = await api.query("select name from api_keys where id = $1", [key.id]);
    expect(row.name).toBe("before");
    expect(api.logs.join("")).toContain("no_updates");
  });
});
