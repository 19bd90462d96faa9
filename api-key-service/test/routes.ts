import { randomUUID } from "node:crypto";
import { declaredRoutes } from "../src/http/routes/index.js";
import type { Api } from "./fixtures.js";

export interface SampleRequest {
  path: string;
  body?: unknown;
}

/** Plan ids are chosen by the caller and must be new: samples are made again for every call. */
const newPlanId = () => `plan-${randomUUID().slice(0, 8)}`;

async function createPlan(api: Api): Promise<string> {
  const id = newPlanId();
  const res = await api.request("POST", "/api/plans", { body: { id, name: "Sample" } });
  if (res.status !== 201) throw new Error(`createPlan: ${res.status} ${res.text}`);
  return id;
}

/** A public address literal: accepted without DNS; only quota events, so nothing is sent to it here. */
const sampleWebhook = { url: "https://93.184.215.14/hooks", events: ["quota.threshold"] };

async function createWebhook(api: Api): Promise<string> {
  const res = await api.request("POST", "/api/webhooks", { body: sampleWebhook });
  if (res.status !== 201) throw new Error(`createWebhook: ${res.status} ${res.text}`);
  return res.body.id;
}

/**
 * A request that succeeds, for every declared route, made against fresh state (each call creates
 * what it needs). The security matrices take their route list from the declarations and these
 * samples; a route declared without a sample fails `sampleFor` at once, so no route escapes them.
 */
const SAMPLES: Record<string, (api: Api) => Promise<SampleRequest>> = {
  "post /api/keys": async () => ({ path: "/api/keys", body: { user_id: "alice", name: "k" } }),
  "get /api/keys": async () => ({ path: "/api/keys?user_id=alice" }),
  "get /api/keys/:user_id": async () => ({ path: "/api/keys/alice" }),
  "delete /api/keys/:id": async (api) => ({
    path: `/api/keys/${(await api.createKey({ user_id: "alice" })).id}`,
  }),
  "get /api/keys/by-id/:id": async (api) => ({
    path: `/api/keys/by-id/${(await api.createKey({ user_id: "alice" })).id}`,
  }),
  "patch /api/keys/by-id/:id": async (api) => ({
    path: `/api/keys/by-id/${(await api.createKey({ user_id: "alice" })).id}`,
    body: { name: "renamed" },
  }),
  "post /api/keys/by-id/:id/rotate": async (api) => ({
    path: `/api/keys/by-id/${(await api.createKey({ user_id: "alice" })).id}/rotate`,
    body: {},
  }),
  "put /api/users/:user_id": async () => ({
    path: "/api/users/alice",
    body: { stripe_customer_id: "cus_A1" },
  }),
  "get /api/users": async () => ({ path: "/api/users" }),
  "get /api/users/:user_id": async (api) => {
    await api.createKey({ user_id: "alice" });
    return { path: "/api/users/alice" };
  },
  "get /api/users/:user_id/quota": async (api) => {
    await api.createKey({ user_id: "alice" });
    return { path: "/api/users/alice/quota" };
  },
  "post /api/plans": async () => ({ path: "/api/plans", body: { id: newPlanId(), name: "Pro" } }),
  "get /api/plans": async () => ({ path: "/api/plans" }),
  "get /api/plans/:id": async (api) => ({ path: `/api/plans/${await createPlan(api)}` }),
  "patch /api/plans/:id": async (api) => ({
    path: `/api/plans/${await createPlan(api)}`,
    body: { rate_limit_per_minute: 100 },
  }),
  "delete /api/plans/:id": async (api) => ({ path: `/api/plans/${await createPlan(api)}` }),
  "get /api/audit": async () => ({ path: "/api/audit" }),
  "get /api/usage": async () => ({ path: "/api/usage?user_id=alice" }),
  "post /api/management-keys": async () => ({
    path: "/api/management-keys",
    body: { name: "portal", scopes: ["keys:read"] },
  }),
  "get /api/management-keys": async () => ({ path: "/api/management-keys" }),
  "get /api/management-keys/:id": async (api) => ({
    path: `/api/management-keys/${(await api.createManagementKey({ scopes: ["keys:read"] })).id}`,
  }),
  "delete /api/management-keys/:id": async (api) => ({
    path: `/api/management-keys/${(await api.createManagementKey({ scopes: ["keys:read"] })).id}`,
  }),
  "post /v1/keys/verify": async (api) => ({
    path: "/v1/keys/verify",
    body: { key: (await api.createKey({ user_id: "alice" })).key },
  }),
  "get /api/openapi.json": async () => ({ path: "/api/openapi.json" }),
  "post /api/webhooks": async () => ({ path: "/api/webhooks", body: sampleWebhook }),
  "get /api/webhooks": async () => ({ path: "/api/webhooks" }),
  "get /api/webhooks/:id": async (api) => ({ path: `/api/webhooks/${await createWebhook(api)}` }),
  "delete /api/webhooks/:id": async (api) => ({ path: `/api/webhooks/${await createWebhook(api)}` }),
  "get /api/webhooks/:id/deliveries": async (api) => ({
    path: `/api/webhooks/${await createWebhook(api)}/deliveries`,
  }),
};

export const routes = declaredRoutes();
export const guardedRoutes = routes.filter((r) => r.scope !== null);

export function sampleFor(route: { method: string; path: string }): (api: Api) => Promise<SampleRequest> {
  const sample = SAMPLES[`${route.method} ${route.path}`];
  if (!sample)
    throw new Error(`no sample request for ${route.method} ${route.path}: add one to test/routes.ts`);
  return sample;
}
