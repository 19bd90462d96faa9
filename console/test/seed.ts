import { bearer, envoyCheckRequest } from "../../api-key-service/test/envoy.js";
import type { Api } from "../../api-key-service/test/fixtures.js";

/** Checks, delivered requests and Stripe meter events at `at(hoursAgo)`, written as the sidecar writes them. */
export async function seedUsage(
  api: Api,
  rows: {
    key: { id: string; user_id: string };
    at: string;
    allowed: number;
    denied: number;
    requests: number;
    units: number;
    customer: string | null;
  }[],
  stripe: { customer: string; at: string; value: number; status: "sent" | "pending" | "dead" }[] = [],
): Promise<void> {
  for (const r of rows) {
    await api.query("insert into authz_counts (key_id, minute, allowed, denied) values ($1, $2, $3, $4)", [
      r.key.id,
      r.at,
      r.allowed,
      r.denied,
    ]);
    await api.query(
      `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                  billable_units, status_2xx)
       values ($1, $2, $3, $4, $5, $5, $6, $5)`,
      [r.key.id, r.at, r.key.user_id, r.customer, r.requests, r.units],
    );
  }
  for (const [i, s] of stripe.entries()) {
    await api.query(
      `insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, status)
       values ($1, $2, 'api_requests', $3, $4, $5)`,
      [`seed-${i}`, s.customer, s.at, s.value, s.status],
    );
  }
}

/** The moment the screenshots are taken at (the browser's clock is held there): a fixed day. */
export const SHOWCASE_NOW = new Date("2026-11-20T12:00:00Z");
const at = (hoursBefore: number) => new Date(SHOWCASE_NOW.getTime() - hoursBefore * 3_600_000).toISOString();

/**
 * The data the screenshots show: three plans, three users with keys in every status, a day of usage,
 * Stripe meter events, webhooks with deliveries and the audit trail of it all, with fixed timestamps.
 */
export async function seedShowcase(api: Api): Promise<void> {
  const ok = async (method: string, path: string, body?: unknown) => {
    const res = await api.request(method, path, { body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  await ok("POST", "/api/plans", {
    id: "free",
    name: "Free",
    rate_limit_per_minute: 600,
    monthly_quota: 1_000,
  });
  await ok("POST", "/api/plans", {
    id: "pro",
    name: "Pro",
    rate_limit_per_minute: 6_000,
    monthly_quota: 250_000,
    overage: "bill",
    alert_thresholds: [0.5, 0.8, 1],
  });
  await ok("POST", "/api/plans", { id: "enterprise", name: "Enterprise", rate_limit_per_minute: 60_000 });

  const prod = await api.createKey({
    user_id: "acme",
    name: "Production backend",
    scopes: ["read", "write"],
  });
  const staging = await api.createKey({ user_id: "acme", name: "Staging", scopes: ["read"] });
  const mobile = await api.createKey({ user_id: "acme", name: "Old mobile app" });
  const pipeline = await api.createKey({
    user_id: "globex",
    name: "Data pipeline",
    rate_limit_per_day: 50_000,
  });
  const reports = await api.createKey({ user_id: "globex", name: "Reporting", scopes: ["read"] });
  const trial = await api.createKey({ user_id: "initech", name: "Trial key" });
  await ok("PUT", "/api/users/acme", { plan_id: "pro", stripe_customer_id: "cus_Acme" });
  await ok("PUT", "/api/users/globex", { plan_id: "free", stripe_customer_id: "cus_Globex" });
  await ok("PATCH", `/api/keys/by-id/${staging.id}`, { enabled: false });
  await ok("DELETE", `/api/keys/${mobile.id}`);
  await ok("POST", `/api/keys/by-id/${prod.id}/rotate`, { grace_period: "24h" });

  // Real checks: the quota bars count them (the live counter), /metrics counts the denials by reason.
  for (const [key, count] of [
    [pipeline, 420],
    [prod, 150],
  ] as const) {
    for (let i = 0; i < count; i++) await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
  }
  for (let i = 0; i < 9; i++) await api.check(envoyCheckRequest());
  for (let i = 0; i < 4; i++) await api.check(envoyCheckRequest({ headers: bearer(mobile.key) }));
  // The service writes last_used_at once a minute per key; the fixed times below are written after it.
  await new Promise((resolve) => setTimeout(resolve, 600));

  const starts: [string, string, string | null, string | null][] = [
    [prod.id, "gw_3fK9", at(2), "2027-11-01T00:00:00Z"],
    [staging.id, "gw_Qa71", at(30), null],
    [mobile.id, "gw_m0B2", at(400), null],
    [pipeline.id, "gw_Zx4d", at(1), null],
    [reports.id, "gw_R8pe", at(26), "2026-12-31T00:00:00Z"],
    [trial.id, "gw_T1al", null, "2026-12-01T00:00:00Z"],
  ];
  for (const [i, [id, start, used, expires]] of starts.entries()) {
    await api.query(
      `update api_keys set key_start = $2, last_used_at = $3, expires_at = $4, created_at = $5, updated_at = $5,
              revoked_at = case when revoked_at is null then null else $6::timestamptz end,
              rotated_at = case when rotated_at is null then null else $6::timestamptz end,
              previous_key_expires_at = case when previous_key_expires_at is null then null else $7::timestamptz end
        where id = $1`,
      [id, start, used, expires, at(24 * 40 - i * 30), at(3), at(-21)],
    );
  }
  await api.query("update plans set created_at = $1, updated_at = $1", [at(24 * 60)]);
  await api.query(
    `update audit_events set occurred_at = $1::timestamptz - (interval '7 minutes' * ranked.n)
       from (select id, row_number() over (order by occurred_at desc, id desc) as n from audit_events) ranked
      where audit_events.id = ranked.id`,
    [at(3)],
  );

  const hours = [23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
  const rows = hours.flatMap((h) => {
    const shape = 1 + Math.sin(((23 - h) / 23) * Math.PI) * 2;
    const acme = Math.round(180 * shape);
    const globex = Math.round(60 * shape);
    return [
      {
        key: prod,
        at: at(h + 1),
        allowed: acme,
        denied: h % 5 === 0 ? 14 : 2,
        requests: acme - (h % 7 === 0 ? 3 : 0),
        units: acme * 2,
        customer: "cus_Acme",
      },
      {
        key: pipeline,
        at: at(h + 1),
        allowed: globex,
        denied: h === 4 ? 38 : 1,
        requests: globex,
        units: globex,
        customer: "cus_Globex",
      },
    ];
  });
  await seedUsage(api, rows, [
    { customer: "cus_Acme", at: at(24), value: 6_000, status: "sent" },
    { customer: "cus_Acme", at: at(12), value: 5_200, status: "sent" },
    { customer: "cus_Acme", at: at(2), value: 900, status: "pending" },
    { customer: "cus_Globex", at: at(12), value: 2_400, status: "sent" },
    { customer: "cus_Globex", at: at(2), value: 120, status: "dead" },
  ]);

  await api.query(
    `insert into webhooks (id, url, events, secret, user_id, created_by, created_at, updated_at) values
       ('wh_0000000000000000000001', 'https://hooks.acme.example/gateway', '{key.created,key.revoked,key.rotated}',
        'whsec_c2VlZA==', 'acme', '{"type":"admin_token"}', $1, $1),
       ('wh_0000000000000000000002', 'https://ops.example.net/alerts', '{quota.threshold}',
        'whsec_c2VlZA==', null, '{"type":"admin_token"}', $1, $1)`,
    [at(24 * 30)],
  );
  const events: [string, string, string, string, number, number | null, string | null][] = [
    ["evt_01", "key.created", "delivered", "wh_0000000000000000000001", 1, 200, null],
    ["evt_02", "key.rotated", "delivered", "wh_0000000000000000000001", 3, 200, null],
    ["evt_03", "key.revoked", "delivered", "wh_0000000000000000000001", 2, 200, null],
    ["evt_04", "key.created", "dead", "wh_0000000000000000000001", 12, null, "connect ECONNREFUSED"],
  ];
  for (const [i, [id, type, status, hook, attempts, code, error]] of events.entries()) {
    await api.query(
      "insert into webhook_events (id, type, user_id, payload, created_at) values ($1, $2, 'acme', '{}', $3)",
      [id, type, at(10 - i * 2)],
    );
    await api.query(
      `insert into webhook_deliveries (webhook_id, event_id, status, attempts, next_attempt_at, last_error,
                                       last_status_code, delivered_at, created_at, updated_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
      [
        hook,
        id,
        status,
        attempts,
        at(10 - i * 2),
        error,
        code,
        status === "delivered" ? at(10 - i * 2) : null,
        at(10 - i * 2),
        at(9 - i * 2),
      ],
    );
  }
}
