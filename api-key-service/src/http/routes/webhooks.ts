import { AppError } from "../../errors.js";
import type { WebhookService } from "../../webhooks/webhooks.service.js";
import { ownerFor } from "../owner.js";
import { route } from "../route.js";
import { createWebhookBody, deliveriesQuery, listWebhooksQuery, webhookIdParams } from "../schemas.js";
import { page, webhookDeliveryView, webhookView, webhookWithSecretView } from "../views.js";

const unknown = { 404: "No such webhook (or not this user's webhook)" };

export function webhookRoutes(webhooks: WebhookService) {
  return [
    route({
      method: "post",
      path: "/api/webhooks",
      scope: "webhooks:write",
      summary: "Register a webhook. The signing secret (`whsec_…`) is in `secret` and is shown this once.",
      description:
        "Events (`key.created`, `key.rotated`, `key.revoked`, `quota.threshold`) are POSTed as `{ type, timestamp, data }`, signed per Standard Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`). The URL's host must resolve to public addresses only.",
      body: createWebhookBody,
      success: { status: 201, description: "The webhook, with its secret", schema: webhookWithSecretView },
      handler: async ({ body, principal, ctx, res }) => {
        if (principal.userId !== null && body.user_id !== undefined && body.user_id !== principal.userId) {
          throw new AppError("FORBIDDEN", `this management key acts only for user ${principal.userId}`);
        }
        const created = await webhooks.create({ ...body, user_id: principal.userId ?? body.user_id }, ctx);
        res.location(`/api/webhooks/${created.id}`);
        return created;
      },
    }),
    route({
      method: "get",
      path: "/api/webhooks",
      scope: "webhooks:read",
      summary: "List webhooks, newest first",
      query: listWebhooksQuery,
      success: { status: 200, description: "A page of webhooks", schema: page(webhookView) },
      errors: { 404: "A user-bound credential asked for another user" },
      handler: async ({ query, principal }) => {
        const { limit, cursor, ...filter } = query;
        const user = ownerFor(principal, filter.user_id, "user");
        return webhooks.list(user ? { user_id: user } : {}, limit, cursor);
      },
    }),
    route({
      method: "get",
      path: "/api/webhooks/:id",
      scope: "webhooks:read",
      summary: "Get one webhook",
      params: webhookIdParams,
      notFoundOnBadParams: "webhook",
      success: { status: 200, description: "The webhook", schema: webhookView },
      errors: unknown,
      handler: async ({ params, principal }) =>
        webhooks.get(params.id, { userId: ownerFor(principal, undefined, "webhook") }),
    }),
    route({
      method: "delete",
      path: "/api/webhooks/:id",
      scope: "webhooks:write",
      summary: "Delete a webhook and its pending deliveries; nothing more is sent to it",
      params: webhookIdParams,
      notFoundOnBadParams: "webhook",
      success: { status: 200, description: "The deleted webhook", schema: webhookView },
      errors: unknown,
      handler: async ({ params, principal, ctx }) =>
        webhooks.delete(params.id, ctx, { userId: ownerFor(principal, undefined, "webhook") }),
    }),
    route({
      method: "get",
      path: "/api/webhooks/:id/deliveries",
      scope: "webhooks:read",
      summary: "A webhook's deliveries, newest first: status, attempts, last error and next attempt",
      params: webhookIdParams,
      notFoundOnBadParams: "webhook",
      query: deliveriesQuery,
      success: { status: 200, description: "A page of deliveries", schema: page(webhookDeliveryView) },
      errors: unknown,
      handler: async ({ params, query, principal }) => {
        const { limit, cursor, ...filter } = query;
        return webhooks.deliveries(params.id, filter, limit, cursor, {
          userId: ownerFor(principal, undefined, "webhook"),
        });
      },
    }),
  ];
}
