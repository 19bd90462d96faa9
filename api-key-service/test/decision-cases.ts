import { KeyFormat } from "../src/keys/key-format.js";
import { bearer, envoyCheckRequest } from "./envoy.js";
import { type Api, expect } from "./fixtures.js";

/**
 * One table of keys in every state, run through each way a decision is asked for: the gRPC Check and
 * the verify API (verify.test.ts), the gRPC Check and the forward-auth endpoint (forward-auth.test.ts).
 */
export interface DecisionCase {
  name: string;
  /** Makes the state and returns the secret to present, and the scopes the route requires. */
  setup: (api: Api) => Promise<{ secret: string; scopes?: string[] }>;
  /** What Check and forward-auth answer: the JSON body's code ("" when allowed) and the HTTP status. */
  check: string;
  status: number;
  /** What the verify API answers. */
  verify: string;
}

/** Puts a user on a new plan, through the management API. */
export async function onPlan(api: Api, user: string, plan: Record<string, unknown>): Promise<void> {
  const created = await api.request("POST", "/api/plans", { body: { name: "Plan", ...plan } });
  expect(created.status, created.text).toBe(201);
  const put = await api.request("PUT", `/api/users/${user}`, { body: { plan_id: plan.id } });
  expect(put.status, put.text).toBe(200);
}

export const DECISION_CASES: DecisionCase[] = [
  {
    name: "a good key",
    setup: async (api) => ({ secret: (await api.createKey()).key }),
    check: "",
    status: 200,
    verify: "VALID",
  },
  {
    name: "a good key holding the route's scopes",
    setup: async (api) => ({
      secret: (await api.createKey({ scopes: ["read", "write"] })).key,
      scopes: ["write", "read"],
    }),
    check: "",
    status: 200,
    verify: "VALID",
  },
  {
    name: "a malformed key",
    setup: async () => ({ secret: "gw_not-a-key" }),
    check: "malformed",
    status: 401,
    verify: "MALFORMED",
  },
  {
    name: "a well-formed key no one issued",
    setup: async () => ({ secret: new KeyFormat("gw").generate() }),
    check: "unknown",
    status: 401,
    verify: "NOT_FOUND",
  },
  {
    name: "an expired key",
    setup: async (api) => {
      const key = await api.createKey({ expires_in: "1h" });
      await api.query("update api_keys set expires_at = now() - interval '1 second' where id = $1", [key.id]);
      return { secret: key.key };
    },
    check: "expired",
    status: 401,
    verify: "EXPIRED",
  },
  {
    name: "a revoked key",
    setup: async (api) => {
      const key = await api.createKey();
      await api.request("DELETE", `/api/keys/${key.id}`);
      return { secret: key.key };
    },
    check: "revoked",
    status: 401,
    verify: "REVOKED",
  },
  {
    name: "a disabled key",
    setup: async (api) => {
      const key = await api.createKey();
      await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { enabled: false } });
      return { secret: key.key };
    },
    check: "disabled",
    status: 403,
    verify: "DISABLED",
  },
  {
    name: "a key whose user is suspended for non-payment",
    setup: async (api) => {
      const key = await api.createKey({ user_id: "late_payer" });
      await api.query(
        "update users set suspended_at = now(), suspended_reason = 'invoice.payment_failed' where user_id = $1",
        ["late_payer"],
      );
      return { secret: key.key };
    },
    check: "payment_required",
    status: 402,
    verify: "DISABLED",
  },
  {
    name: "a key without the route's scope",
    setup: async (api) => ({
      secret: (await api.createKey({ scopes: ["read"] })).key,
      scopes: ["read", "write"],
    }),
    check: "missing_scope",
    status: 403,
    verify: "MISSING_SCOPE",
  },
  {
    name: "a key over its limit",
    setup: async (api) => {
      const key = await api.createKey({ rate_limit_per_minute: 1 });
      await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      return { secret: key.key };
    },
    check: "rate_limited",
    status: 429,
    verify: "RATE_LIMITED",
  },
  {
    name: "a key whose plan's monthly quota is used up",
    setup: async (api) => {
      await onPlan(api, "quota_user", { id: "tiny", monthly_quota: 1, overage: "block" });
      const key = await api.createKey({ user_id: "quota_user" });
      await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      return { secret: key.key };
    },
    check: "quota_exceeded",
    status: 429,
    verify: "QUOTA_EXCEEDED",
  },
  {
    name: "a rotated-out secret past its grace period",
    setup: async (api) => {
      const key = await api.createKey();
      await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, { body: { grace_period: "1h" } });
      await api.query(
        "update api_keys set previous_key_expires_at = now() - interval '1 second' where id = $1",
        [key.id],
      );
      return { secret: key.key };
    },
    check: "rotated",
    status: 401,
    verify: "EXPIRED",
  },
];
