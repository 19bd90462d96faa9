import type { TestServices } from "@gateway/testing";
import { afterEach, beforeEach } from "vitest";
import { type Api, describe, expect, startApi, test as withApi } from "./fixtures.js";
import { verify, WebhookReceiver } from "./webhook-receiver.js";

/** Deliveries to the local receiver, retried fast. */
const DELIVERY_ENV = {
  WEBHOOK_ALLOWED_HOSTS: "127.0.0.1,localhost",
  WEBHOOK_POLL_INTERVAL: "50ms",
  WEBHOOK_RETRY_BASE: "100ms",
  WEBHOOK_RETRY_MAX: "300ms",
  WEBHOOK_TIMEOUT: "2s",
};

const test = withApi.extend<{ deliveringApi: Api }>({
  deliveringApi: async ({ services }: { services: TestServices }, use) => {
    const api = await startApi(services, DELIVERY_ENV);
    try {
      await use(api);
    } finally {
      await api.stop();
    }
  },
});

let receiver: WebhookReceiver;
beforeEach(async () => {
  receiver = await new WebhookReceiver().open();
});
afterEach(async () => {
  await receiver.close();
});

const PUBLIC_URL = "https://93.184.215.14/hooks";

async function register(api: Api, body: Record<string, unknown>, token?: string) {
  const res = await api.request("POST", "/api/webhooks", { body, ...(token ? { token } : {}) });
  expect(res.status, res.text).toBe(201);
  return res.body;
}

describe("registering webhooks", () => {
  test("answers 201 with a Standard Webhooks secret shown once, never again, never logged", async ({
    api,
  }) => {
    const res = await api.request("POST", "/api/webhooks", {
      body: { url: PUBLIC_URL, events: ["key.revoked", "key.created", "key.created"] },
    });
    expect(res.status, res.text).toBe(201);
    const created = res.body;
    expect(created).toMatchObject({
      id: expect.stringMatching(/^wh_[0-9A-Za-z]{22}$/),
      url: PUBLIC_URL,
      events: ["key.created", "key.revoked"],
      user_id: null,
      created_by: { type: "admin_token" },
    });
    expect(res.headers.get("location")).toBe(`/api/webhooks/${created.id}`);
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(created.secret.slice(6), "base64").length).toBeGreaterThanOrEqual(24);

    const one = await api.request("GET", `/api/webhooks/${created.id}`);
    const list = await api.request("GET", "/api/webhooks");
    const audit = await api.request("GET", "/api/audit?action=webhook.created");
    const { secret, ...withoutSecret } = created;
    expect(one.body).toEqual(withoutSecret);
    expect(list.body.data).toEqual([withoutSecret]);
    expect(audit.body.data[0].changes).toMatchObject({ webhook_id: created.id, url: PUBLIC_URL });
    const base64 = secret.slice(6);
    for (const text of [one.text, list.text, audit.text, api.logs.join("")]) {
      expect(text).not.toContain(base64);
    }
  });

  test("refuses URLs whose host is not public, at registration, with a 400 naming url, storing nothing", async ({
    api,
  }) => {
    const before = await api.rowCounts();
    const refused = [
      "http://127.0.0.1:8080/hook",
      "http://10.0.0.1/hook",
      "http://172.16.3.4/hook",
      "http://192.168.1.1/hook",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::1]/hook",
      "http://[fe80::1]/hook",
      "http://[fd00::1]/hook",
      "http://[::ffff:127.0.0.1]/hook",
      "http://[::]/hook",
      "http://0.0.0.0/hook",
      "http://100.64.0.1/hook",
      "http://192.0.2.10/hook",
      "http://2130706433/hook", // 127.0.0.1 written as a number
      "http://0x7f.1/hook",
      "http://localhost:9000/hook", // a name that resolves to loopback
      "http://LOCALHOST./hook",
      "https://no-such-host.invalid/hook",
    ];
    for (const url of refused) {
      const res = await api.request("POST", "/api/webhooks", { body: { url, events: ["key.created"] } });
      expect(res.status, url).toBe(400);
      expect(res.body.code).toBe("INVALID_INPUT");
      expect(
        res.body.errors.map((e: { field: string }) => e.field),
        url,
      ).toEqual(["url"]);
    }
    expect(await api.rowCounts()).toEqual(before);
  });

  test("refuses what is not an http(s) URL, unknown events and unknown fields, naming the field", async ({
    api,
  }) => {
    const before = await api.rowCounts();
    const cases: [Record<string, unknown>, string][] = [
      [{ url: "ftp://93.184.215.14/x", events: ["key.created"] }, "url"],
      [{ url: "file:///etc/passwd", events: ["key.created"] }, "url"],
      [{ url: "gopher://93.184.215.14/", events: ["key.created"] }, "url"],
      [{ url: "not a url", events: ["key.created"] }, "url"],
      [{ url: "https://user:pass@93.184.215.14/", events: ["key.created"] }, "url"],
      [{ url: "https://93.184.215.14/a\tb", events: ["key.created"] }, "url"],
      [{ url: `https://93.184.215.14/${"a".repeat(2100)}`, events: ["key.created"] }, "url"],
      [{ url: 42, events: ["key.created"] }, "url"],
      [{ url: PUBLIC_URL, events: [] }, "events"],
      [{ url: PUBLIC_URL, events: ["key.updated"] }, "events[0]"],
      [{ url: PUBLIC_URL, events: "key.created" }, "events"],
      [{ url: PUBLIC_URL }, "events"],
      [{ events: ["key.created"] }, "url"],
      [{ url: PUBLIC_URL, events: ["key.created"], secret: "whsec_mine" }, "secret"],
      [{ url: PUBLIC_URL, events: ["key.created"], user_id: "bad id" }, "user_id"],
    ];
    for (const [body, field] of cases) {
      const res = await api.request("POST", "/api/webhooks", { body });
      expect(res.status, JSON.stringify(body).slice(0, 100)).toBe(400);
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    expect(await api.rowCounts()).toEqual(before);
  });

  test("without WEBHOOK_ALLOWED_HOSTS, 127.0.0.1 and localhost are refused; listed, they are accepted", async ({
    api,
    deliveringApi,
  }) => {
    for (const url of ["http://127.0.0.1:9/hook", "http://localhost:9/hook"]) {
      const body = { url, events: ["key.created"] };
      expect((await api.request("POST", "/api/webhooks", { body })).status).toBe(400);
      expect((await deliveringApi.request("POST", "/api/webhooks", { body })).status).toBe(201);
    }
  });
});

describe("reading and deleting webhooks", () => {
  test("lists newest first in cursor pages; get and delete answer 404 for an unknown id", async ({ api }) => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await register(api, { url: PUBLIC_URL, events: ["key.created"] })).id);
    const first = await api.request("GET", "/api/webhooks?limit=2");
    expect(first.body.data.map((w: { id: string }) => w.id)).toEqual([ids[2], ids[1]]);
    const second = await api.request("GET", `/api/webhooks?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body).toEqual({ data: [expect.objectContaining({ id: ids[0] })], next_cursor: null });

    const unknown = "wh_0000000000000000000000";
    for (const path of [
      `/api/webhooks/${unknown}`,
      "/api/webhooks/nope",
      `/api/webhooks/${unknown}/deliveries`,
    ]) {
      expect((await api.request("GET", path)).status, path).toBe(404);
    }
    expect((await api.request("DELETE", `/api/webhooks/${unknown}`)).status).toBe(404);
    expect((await api.request("GET", "/api/webhooks?cursor=garbage")).status).toBe(400);

    const deleted = await api.request("DELETE", `/api/webhooks/${ids[1]}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body.id).toBe(ids[1]);
    expect(deleted.body.secret).toBeUndefined();
    expect((await api.request("GET", `/api/webhooks/${ids[1]}`)).status).toBe(404);
    expect((await api.request("DELETE", `/api/webhooks/${ids[1]}`)).status).toBe(404);
    const audit = await api.request("GET", "/api/audit?action=webhook.deleted");
    expect(audit.body.data[0].changes.webhook_id).toBe(ids[1]);
  });

  test("a user-bound management key makes, sees and deletes only its user's webhooks", async ({ api }) => {
    const portal = await api.createManagementKey({
      scopes: ["webhooks:read", "webhooks:write"],
      user_id: "alice",
    });
    const global = await register(api, { url: PUBLIC_URL, events: ["key.created"] });
    const bobs = await register(api, { url: PUBLIC_URL, events: ["key.created"], user_id: "bob" });

    const own = await register(api, { url: PUBLIC_URL, events: ["key.created"] }, portal.key);
    expect(own.user_id).toBe("alice");
    const forBob = await api.request("POST", "/api/webhooks", {
      body: { url: PUBLIC_URL, events: ["key.created"], user_id: "bob" },
      token: portal.key,
    });
    expect(forBob.status).toBe(403);

    const listed = await api.request("GET", "/api/webhooks", { token: portal.key });
    expect(listed.body.data.map((w: { id: string }) => w.id)).toEqual([own.id]);
    expect((await api.request("GET", "/api/webhooks?user_id=bob", { token: portal.key })).status).toBe(404);
    for (const other of [global, bobs]) {
      for (const [method, path] of [
        ["GET", `/api/webhooks/${other.id}`],
        ["GET", `/api/webhooks/${other.id}/deliveries`],
        ["DELETE", `/api/webhooks/${other.id}`],
      ] as const) {
        expect((await api.request(method, path, { token: portal.key })).status, `${method} ${path}`).toBe(
          404,
        );
      }
    }
    expect((await api.request("GET", "/api/webhooks?user_id=bob")).body.data).toHaveLength(1);
  });
});

describe("key lifecycle events", () => {
  test("created, rotated and revoked are delivered, signed, to the webhooks subscribed to them", async ({
    deliveringApi: api,
  }) => {
    const all = await register(api, {
      url: receiver.url("/all"),
      events: ["key.created", "key.rotated", "key.revoked"],
    });
    const revokedOnly = await register(api, { url: receiver.url("/revoked"), events: ["key.revoked"] });
    const bobsOnly = await register(api, {
      url: receiver.url("/bob"),
      events: ["key.created", "key.rotated", "key.revoked"],
      user_id: "bob",
    });

    const key = await api.createKey({ user_id: "alice", name: "alice's key" });
    const rotated = (await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, { body: {} })).body;
    await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { name: "renamed" } }); // no event
    await api.request("DELETE", `/api/keys/${key.id}`);
    await api.request("DELETE", `/api/keys/${key.id}`); // already revoked: no second event
    const bobsKey = await api.createKey({ user_id: "bob" });

    await receiver.waitFor(() => receiver.delivered().length >= 6, 10_000, "six deliveries");
    await new Promise((r) => setTimeout(r, 300)); // nothing more arrives
    const secrets: Record<string, string> = {
      "/all": all.secret,
      "/revoked": revokedOnly.secret,
      "/bob": bobsOnly.secret,
    };
    const byPath = (path: string) =>
      receiver
        .delivered(path)
        .map((r) => verify(secrets[path] as string, r))
        .sort((a, b) => a.timestamp.localeCompare(b.timestamp));

    const forAll = byPath("/all");
    expect(forAll.map((e) => [e.type, e.data.key_id])).toEqual([
      ["key.created", key.id],
      ["key.rotated", key.id],
      ["key.revoked", key.id],
      ["key.created", bobsKey.id],
    ]);
    expect(byPath("/revoked").map((e) => [e.type, e.data.key_id])).toEqual([["key.revoked", key.id]]);
    expect(byPath("/bob").map((e) => [e.type, e.data.key_id])).toEqual([["key.created", bobsKey.id]]);
    expect(receiver.received).toHaveLength(6);

    const [created, rotation, revocation] = forAll;
    expect(created?.data).toEqual({
      key_id: key.id,
      user_id: "alice",
      name: "alice's key",
      start: key.start,
      status: "active",
      expires_at: null,
      revoked_at: null,
      rotated_at: null,
      previous_key_expires_at: null,
      created_at: key.created_at,
      updated_at: key.created_at,
    });
    expect(rotation?.data).toMatchObject({ start: rotated.start, rotated_at: rotated.rotated_at });
    expect(rotation?.data.previous_key_expires_at).toEqual(expect.any(String));
    expect(revocation?.data).toMatchObject({ status: "revoked", revoked_at: expect.any(String) });
    expect(new Date(created?.timestamp ?? "").getTime()).not.toBeNaN();

    // webhook-id is the event's id, distinct per event; the body never holds a secret or a hash.
    const ids = receiver.received.map((r) => r.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(4); // one per event, whichever webhooks get it
    for (const id of ids) expect(id).toMatch(/^evt_[0-9A-Za-z]{22}$/);
    const hashes = await api.query("select key_hash, previous_key_hash from api_keys");
    const everything = receiver.received.map((r) => r.body).join("\n");
    for (const secret of [
      key.key,
      rotated.key,
      bobsKey.key,
      ...hashes.flatMap((h) => [h.key_hash, h.previous_key_hash]),
    ]) {
      if (secret) expect(everything).not.toContain(secret);
    }
    for (const hook of [all, revokedOnly, bobsOnly])
      expect(api.logs.join("")).not.toContain(hook.secret.slice(6));

    const deliveries = await api.request("GET", `/api/webhooks/${all.id}/deliveries?limit=3`);
    expect(deliveries.body.data).toHaveLength(3);
    expect(deliveries.body.data[0]).toEqual({
      id: expect.any(String),
      event_id: expect.stringMatching(/^evt_/),
      event_type: "key.created",
      status: "delivered",
      attempts: 1,
      last_error: null,
      last_status_code: 200,
      next_attempt_at: null,
      delivered_at: expect.any(String),
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const rest = await api.request(
      "GET",
      `/api/webhooks/${all.id}/deliveries?limit=3&cursor=${deliveries.body.next_cursor}`,
    );
    expect(rest.body.data).toHaveLength(1);
    expect(rest.body.next_cursor).toBeNull();
    const filtered = await api.request("GET", `/api/webhooks/${all.id}/deliveries?status=pending`);
    expect(filtered.body.data).toEqual([]);
  });

  test("an event is written in the change's transaction: a refused change sends nothing", async ({
    deliveringApi: api,
  }) => {
    await register(api, { url: receiver.url(), events: ["key.created", "key.rotated", "key.revoked"] });
    const key = await api.createKey();
    await api.request("DELETE", `/api/keys/${key.id}`);
    expect((await api.request("POST", `/api/keys/by-id/${key.id}/rotate`)).status).toBe(409);
    await receiver.waitFor(() => receiver.delivered().length >= 2);
    await new Promise((r) => setTimeout(r, 300));
    const [events] = await api.query("select count(*)::int as n from webhook_events");
    expect(events.n).toBe(2);
    expect(receiver.received).toHaveLength(2);
  });

  test("no event is stored when nothing subscribes to it", async ({ api }) => {
    await register(api, { url: PUBLIC_URL, events: ["quota.threshold"] });
    await api.createKey();
    const [row] = await api.query(
      "select (select count(*) from webhook_events)::int as events, (select count(*) from webhook_deliveries)::int as deliveries",
    );
    expect(row).toEqual({ events: 0, deliveries: 0 });
  });
});

describe("quota threshold events", () => {
  test("a threshold crossed on the check path is delivered once, however often and wherever it is seen", async ({
    deliveringApi: api,
    services,
  }) => {
    const replica = await startApi(services, DELIVERY_ENV);
    try {
      const hook = await register(api, { url: receiver.url(), events: ["quota.threshold"] });
      await api.query(
        "insert into plans (id, name, monthly_quota, alert_thresholds) values ('small', 'Small', 10, '{0.5,1}')",
      );
      await api.query("insert into users (user_id, plan_id) values ('carol', 'small')");
      const key = await api.createKey({ user_id: "carol" });
      const verifyOn = (on: Api, cost: number) =>
        on.request("POST", "/v1/keys/verify", { body: { key: key.key, cost } });
      // 6 of 10 units: past 0.5, on one replica; then the rest, on both, concurrently: past 1.
      expect((await verifyOn(api, 6)).body.valid).toBe(true);
      await Promise.all([verifyOn(api, 2), verifyOn(replica, 2)]);

      await receiver.waitFor(() => receiver.delivered().length >= 2, 10_000, "two quota events");
      await new Promise((r) => setTimeout(r, 500));
      const events = receiver.received
        .map((r) => verify(hook.secret, r))
        .sort((a, b) => a.data.threshold - b.data.threshold);
      expect(events.map((e) => [e.type, e.data.threshold, e.data.user_id, e.data.plan_id])).toEqual([
        ["quota.threshold", 0.5, "carol", "small"],
        ["quota.threshold", 1, "carol", "small"],
      ]);
      expect(events[0]?.data).toMatchObject({ monthly_quota: 10, used: 6 });
      expect(events[1]?.data.used).toBe(10);
      expect(events[0]?.data.period_start).toEqual(expect.any(String));
      const [alerts] = await api.query("select count(*)::int as n from quota_alerts");
      expect(alerts.n).toBe(2);
    } finally {
      await replica.stop();
    }
  });
});
