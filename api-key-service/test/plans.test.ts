import { bearer, envoyCheckRequest, headerMap } from "./envoy.js";
import { type Api, describe, expect, startApi, test } from "./fixtures.js";

const createPlan = (api: Api, body: Record<string, unknown>, token?: string) =>
  api.request("POST", "/api/plans", { body: { name: "Plan", ...body }, token });

/** The per-minute limit a Check reports for a key: the x-ratelimit-limit header Envoy adds. */
async function limitOf(api: Api, secret: string): Promise<string | undefined> {
  const response = await api.check(envoyCheckRequest({ headers: bearer(secret) }));
  expect(response.status?.code).toBe(0);
  return headerMap(response.ok_response?.response_headers_to_add)["x-ratelimit-limit"];
}

const fields = (res: { body: { errors?: { field: string }[] } }) =>
  (res.body.errors ?? []).map((e) => e.field);

describe("plans CRUD", () => {
  test("create with defaults, read, list in pages, change and delete", async ({ api }) => {
    const created = await createPlan(api, { id: "free" });
    expect(created.status).toBe(201);
    expect(created.headers.get("location")).toBe("/api/plans/free");
    expect(created.body).toMatchObject({
      id: "free",
      name: "Plan",
      rate_limit_per_minute: null,
      rate_limit_per_day: null,
      monthly_quota: null,
      overage: "block",
      alert_thresholds: [0.8, 1],
    });

    const pro = await createPlan(api, {
      id: "pro_2-x",
      name: "  Pro  ",
      rate_limit_per_minute: 1_000,
      rate_limit_per_day: 1_000_000_000,
      monthly_quota: 1e15,
      overage: "bill",
      alert_thresholds: [1, 0.5, 0.5, 0.9],
    });
    expect(pro.status).toBe(201);
    expect(pro.body).toMatchObject({
      name: "Pro",
      rate_limit_per_minute: 1_000,
      rate_limit_per_day: 1_000_000_000,
      monthly_quota: 1e15,
      overage: "bill",
      alert_thresholds: [0.5, 0.9, 1],
    });
    expect((await api.request("GET", "/api/plans/pro_2-x")).body).toEqual(pro.body);
    await createPlan(api, { id: "enterprise", alert_thresholds: [] });

    const first = await api.request("GET", "/api/plans?limit=2");
    expect(first.body.data.map((p: { id: string }) => p.id)).toEqual(["enterprise", "free"]);
    const second = await api.request("GET", `/api/plans?limit=2&cursor=${first.body.next_cursor}`);
    expect(second.body).toEqual({ data: [pro.body], next_cursor: null });

    const patched = await api.request("PATCH", "/api/plans/pro_2-x", {
      body: { name: "Pro 2", monthly_quota: null, rate_limit_per_day: null, alert_thresholds: [0.25] },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id: "pro_2-x",
      name: "Pro 2",
      rate_limit_per_minute: 1_000,
      rate_limit_per_day: null,
      monthly_quota: null,
      overage: "bill",
      alert_thresholds: [0.25],
      created_at: pro.body.created_at,
    });
    expect(Date.parse(patched.body.updated_at)).toBeGreaterThanOrEqual(Date.parse(pro.body.updated_at));

    const deleted = await api.request("DELETE", "/api/plans/pro_2-x");
    expect(deleted.status).toBe(200);
    expect(deleted.body.id).toBe("pro_2-x");
    expect((await api.request("GET", "/api/plans/pro_2-x")).status).toBe(404);
    expect((await api.request("DELETE", "/api/plans/pro_2-x")).status).toBe(404);
    expect((await api.request("PATCH", "/api/plans/pro_2-x", { body: { name: "x" } })).status).toBe(404);
  });

  test("invalid input is a 400 naming each offending field, and writes nothing", async ({ api }) => {
    await createPlan(api, { id: "basic" });
    const cases: [string, string, Record<string, unknown>, string[]][] = [
      ["POST", "/api/plans", { name: "x" }, ["id"]],
      ["POST", "/api/plans", { id: "ok" }, ["name"]],
      ["POST", "/api/plans", { id: "Pro", name: "x" }, ["id"]],
      ["POST", "/api/plans", { id: "a".repeat(65), name: "x" }, ["id"]],
      ["POST", "/api/plans", { id: "a b", name: "x" }, ["id"]],
      ["POST", "/api/plans", { id: "", name: "x" }, ["id"]],
      ["POST", "/api/plans", { id: "ok", name: "   " }, ["name"]],
      ["POST", "/api/plans", { id: "ok", name: "x", rate_limit_per_minute: 0 }, ["rate_limit_per_minute"]],
      ["POST", "/api/plans", { id: "ok", name: "x", rate_limit_per_minute: 1.5 }, ["rate_limit_per_minute"]],
      [
        "POST",
        "/api/plans",
        { id: "ok", name: "x", rate_limit_per_day: 1_000_000_001 },
        ["rate_limit_per_day"],
      ],
      ["POST", "/api/plans", { id: "ok", name: "x", rate_limit_per_day: "10" }, ["rate_limit_per_day"]],
      ["POST", "/api/plans", { id: "ok", name: "x", monthly_quota: 1e15 + 1 }, ["monthly_quota"]],
      ["POST", "/api/plans", { id: "ok", name: "x", monthly_quota: 0 }, ["monthly_quota"]],
      ["POST", "/api/plans", { id: "ok", name: "x", overage: "allow" }, ["overage"]],
      ["POST", "/api/plans", { id: "ok", name: "x", overage: null }, ["overage"]],
      ["POST", "/api/plans", { id: "ok", name: "x", alert_thresholds: [0] }, ["alert_thresholds[0]"]],
      ["POST", "/api/plans", { id: "ok", name: "x", alert_thresholds: [0.5, 1.01] }, ["alert_thresholds[1]"]],
      ["POST", "/api/plans", { id: "ok", name: "x", alert_thresholds: null }, ["alert_thresholds"]],
      [
        "POST",
        "/api/plans",
        { id: "ok", name: "x", alert_thresholds: Array.from({ length: 11 }, (_, i) => (i + 1) / 11) },
        ["alert_thresholds"],
      ],
      ["POST", "/api/plans", { id: "ok", name: "x", price: 10 }, ["price"]],
      ["PATCH", "/api/plans/basic", { id: "other" }, ["id"]],
      [
        "PATCH",
        "/api/plans/basic",
        { rate_limit_per_minute: -1, overage: "maybe" },
        ["rate_limit_per_minute", "overage"],
      ],
    ];
    for (const [method, path, body, expected] of cases) {
      const res = await api.request(method, path, { body });
      const label = `${method} ${JSON.stringify(body).slice(0, 80)}`;
      expect(res.status, label).toBe(400);
      expect(res.body.code, label).toBe("INVALID_INPUT");
      expect(fields(res).sort(), label).toEqual([...expected].sort());
    }
    const plans = await api.query("select id, name, rate_limit_per_minute, overage from plans");
    expect(plans).toEqual([{ id: "basic", name: "Plan", rate_limit_per_minute: null, overage: "block" }]);
    // A path id of the wrong shape names no plan.
    for (const id of ["BASIC", "a%20b", "x".repeat(65)]) {
      expect((await api.request("GET", `/api/plans/${id}`)).status, id).toBe(404);
    }
  });

  test("a duplicate id is a 409; a plan with users cannot be deleted until they leave it", async ({
    api,
  }) => {
    expect((await createPlan(api, { id: "team", rate_limit_per_minute: 5 })).status).toBe(201);
    const again = await createPlan(api, { id: "team", rate_limit_per_minute: 50 });
    expect(again.status).toBe(409);
    expect(again.body.code).toBe("CONFLICT");
    expect((await api.request("GET", "/api/plans/team")).body.rate_limit_per_minute).toBe(5);

    expect((await api.request("PUT", "/api/users/acme", { body: { plan_id: "team" } })).status).toBe(200);
    const inUse = await api.request("DELETE", "/api/plans/team");
    expect(inUse.status).toBe(409);
    expect(inUse.body.code).toBe("CONFLICT");
    expect((await api.request("GET", "/api/plans/team")).status).toBe(200);

    expect((await api.request("PUT", "/api/users/acme", { body: { plan_id: null } })).status).toBe(200);
    expect((await api.request("DELETE", "/api/plans/team")).status).toBe(200);
  });

  test("every change is audited with its actor; a change to nothing is not", async ({ api }) => {
    const writer = await api.createManagementKey({ name: "pricing", scopes: ["plans:write"] });
    const actor = { type: "management_key", id: writer.id, name: "pricing" };
    expect((await createPlan(api, { id: "gold", rate_limit_per_minute: 10 }, writer.key)).status).toBe(201);
    const patch = { rate_limit_per_minute: 20, name: "Gold", overage: "block" };
    await api.request("PATCH", "/api/plans/gold", { body: patch, token: writer.key });
    await api.request("PATCH", "/api/plans/gold", { body: patch, token: writer.key }); // nothing changes
    await api.request("DELETE", "/api/plans/gold", { token: writer.key });

    const events = (await api.request("GET", `/api/audit?actor_id=${writer.id}`)).body.data;
    expect(events.map((e: { action: string }) => e.action)).toEqual([
      "plan.deleted",
      "plan.updated",
      "plan.created",
    ]);
    for (const event of events) expect(event.actor).toEqual(actor);
    const [deleted, updated, created] = events;
    expect(created.changes).toEqual({
      plan_id: "gold",
      name: "Plan",
      rate_limit_per_minute: 10,
      rate_limit_per_day: null,
      monthly_quota: null,
      overage: "block",
      alert_thresholds: [0.8, 1],
    });
    expect(updated.changes).toEqual({
      plan_id: "gold",
      name: { from: "Plan", to: "Gold" },
      rate_limit_per_minute: { from: 10, to: 20 },
    });
    expect(deleted.changes).toMatchObject({ plan_id: "gold", name: "Gold", rate_limit_per_minute: 20 });
    const filtered = await api.request("GET", "/api/audit?action=plan.updated");
    expect(filtered.body.data).toHaveLength(1);
  });
});

describe("a user's plan and billing-cycle anchor", () => {
  test("a partial PUT changes only the fields given, and the user views show them", async ({ api }) => {
    await createPlan(api, { id: "pro" });
    await api.createKey({ user_id: "acme" });
    const billing = await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_A1" } });
    expect(billing.body).toMatchObject({
      stripe_customer_id: "cus_A1",
      plan_id: null,
      billing_cycle_anchor: null,
    });

    const onPlan = await api.request("PUT", "/api/users/acme", {
      body: { plan_id: "pro", billing_cycle_anchor: "2026-01-31T10:00:00+02:00" },
    });
    expect(onPlan.status).toBe(200);
    expect(onPlan.body).toMatchObject({
      user_id: "acme",
      stripe_customer_id: "cus_A1",
      plan_id: "pro",
      billing_cycle_anchor: "2026-01-31T08:00:00.000Z",
    });
    const one = (await api.request("GET", "/api/users/acme")).body;
    expect(one).toMatchObject({ plan_id: "pro", billing_cycle_anchor: "2026-01-31T08:00:00.000Z" });
    expect(one.keys.total).toBe(1);
    const list = (await api.request("GET", "/api/users")).body.data;
    expect(list).toEqual([one]);

    const cleared = await api.request("PUT", "/api/users/acme", { body: { billing_cycle_anchor: null } });
    expect(cleared.body).toMatchObject({
      stripe_customer_id: "cus_A1",
      plan_id: "pro",
      billing_cycle_anchor: null,
    });

    const events = (await api.request("GET", "/api/audit?user_id=acme")).body.data;
    expect(events.map((e: { action: string }) => e.action)).toEqual([
      "user.plan_updated",
      "user.plan_updated",
      "user.billing_updated",
      "key.created",
    ]);
    expect(events[1].changes).toEqual({
      plan_id: { from: null, to: "pro" },
      billing_cycle_anchor: { from: null, to: "2026-01-31T08:00:00.000Z" },
    });
    expect(events[0].changes).toEqual({
      billing_cycle_anchor: { from: "2026-01-31T08:00:00.000Z", to: null },
    });
  });

  test("an unknown plan, a bad anchor or an empty body is a 400 naming the field, and changes nothing", async ({
    api,
  }) => {
    await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_A1" } });
    const before = await api.rowCounts();
    const cases: [Record<string, unknown>, string][] = [
      [{ plan_id: "nope" }, "plan_id"],
      [{ plan_id: "Not A Plan" }, "plan_id"],
      [{ plan_id: 5 }, "plan_id"],
      [{ billing_cycle_anchor: "2026-01-31T10:00:00" }, "billing_cycle_anchor"],
      [{ billing_cycle_anchor: "2026-01-31" }, "billing_cycle_anchor"],
      [{ billing_cycle_anchor: "tomorrow" }, "billing_cycle_anchor"],
      [{ billing_cycle_anchor: "0000-01-01T00:00:00Z" }, "billing_cycle_anchor"],
      [{ billing_cycle_anchor: "9999-12-31T23:59:59-14:00" }, "billing_cycle_anchor"],
      [{ stripe_customer_id: "cus_A2", plan_id: "nope" }, "plan_id"],
      [{ plan: "pro" }, "plan"],
      [{}, "body"],
    ];
    for (const [body, field] of cases) {
      const res = await api.request("PUT", "/api/users/acme", { body });
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(fields(res), JSON.stringify(body)).toEqual([field]);
    }
    expect(await api.rowCounts()).toEqual(before);
    expect((await api.request("GET", "/api/users/acme")).body.stripe_customer_id).toBe("cus_A1");
  });

  test("a credential bound to a user cannot change its plan, its anchor or any plan", async ({ api }) => {
    await createPlan(api, { id: "free" });
    await createPlan(api, { id: "unlimited" });
    await api.request("PUT", "/api/users/alice", { body: { plan_id: "free" } });
    const portal = await api.createManagementKey({
      scopes: ["users:read", "users:write", "plans:read", "plans:write"],
      user_id: "alice",
    });
    const as = { token: portal.key };
    const before = await api.rowCounts();
    for (const body of [
      { plan_id: "unlimited" },
      { plan_id: null },
      { billing_cycle_anchor: "2026-01-01T00:00:00Z" },
      { stripe_customer_id: "cus_A1", plan_id: "free" },
    ]) {
      const res = await api.request("PUT", "/api/users/alice", { ...as, body });
      expect(res.status, JSON.stringify(body)).toBe(403);
      expect(res.body.code).toBe("FORBIDDEN");
    }
    for (const [method, path, body] of [
      ["POST", "/api/plans", { id: "mine", name: "x" }],
      ["PATCH", "/api/plans/free", { rate_limit_per_minute: 1_000_000 }],
      ["DELETE", "/api/plans/unlimited"],
    ] as const) {
      const res = await api.request(method, path, { ...as, body });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect(await api.rowCounts()).toEqual(before);
    expect((await api.request("GET", "/api/plans/free")).body.rate_limit_per_minute).toBeNull();
    expect((await api.request("GET", "/api/users/alice", as)).body.plan_id).toBe("free");
    // Reading plans and setting its own billing customer stay allowed; another user is still 404.
    expect((await api.request("GET", "/api/plans", as)).status).toBe(200);
    const own = await api.request("PUT", "/api/users/alice", {
      ...as,
      body: { stripe_customer_id: "cus_A1" },
    });
    expect(own.body).toMatchObject({ stripe_customer_id: "cus_A1", plan_id: "free" });
    expect((await api.request("PUT", "/api/users/bob", { ...as, body: { plan_id: "free" } })).status).toBe(
      404,
    );
  });
});

describe("plans on the check path", () => {
  test("a key without its own limit takes its user's plan's; a plan change reaches both replicas within a second", async ({
    api,
    services,
  }) => {
    const other = await startApi(services);
    try {
      await createPlan(api, { id: "starter", rate_limit_per_minute: 40 });
      const key = await api.createKey({ user_id: "acme" });
      const own = await api.createKey({ user_id: "acme", rate_limit_per_minute: 3 });
      expect(await limitOf(api, key.key)).toBe("100"); // the configured default, cached now
      expect(await limitOf(other, key.key)).toBe("100");

      await api.request("PUT", "/api/users/acme", { body: { plan_id: "starter" } });
      await expect.poll(() => limitOf(api, key.key), { timeout: 1_000, interval: 20 }).toBe("40");
      await expect.poll(() => limitOf(other, key.key), { timeout: 1_000, interval: 20 }).toBe("40");
      expect(await limitOf(api, own.key)).toBe("3");

      const changedAt = performance.now();
      const patched = await api.request("PATCH", "/api/plans/starter", {
        body: { rate_limit_per_minute: 60 },
      });
      expect(patched.status).toBe(200);
      // This replica evicted the plan's keys before answering the PATCH.
      expect(await limitOf(api, key.key)).toBe("60");
      await expect.poll(() => limitOf(other, key.key), { timeout: 1_000, interval: 10 }).toBe("60");
      console.info(
        `a plan change reached the other replica after ${(performance.now() - changedAt).toFixed(1)} ms`,
      );
      expect(await limitOf(other, own.key)).toBe("3");

      await api.request("PUT", "/api/users/acme", { body: { plan_id: null } });
      await expect.poll(() => limitOf(other, key.key), { timeout: 1_000, interval: 20 }).toBe("100");
    } finally {
      await other.stop();
    }
  });
});
