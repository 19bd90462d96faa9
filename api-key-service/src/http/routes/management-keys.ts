import type { ManagementKeyService } from "../../management-keys/management-keys.service.js";
import { route } from "../route.js";
import { createManagementKeyBody, managementKeyIdParams, pageQuery } from "../schemas.js";
import { managementKeyView, managementKeyWithSecretView, page } from "../views.js";

const unknown = { 404: "No such management key" };

export function managementKeyRoutes(managementKeys: ManagementKeyService) {
  return [
    route({
      method: "post",
      path: "/api/management-keys",
      scope: "admin",
      summary: "Create a management key. The secret (`gwm_…`) is in `key` and is shown this once.",
      body: createManagementKeyBody,
      success: { status: 201, description: "The key, with its secret", schema: managementKeyWithSecretView },
      handler: async ({ body, ctx, res }) => {
        const { expires_in, ...input } = body;
        const created = await managementKeys.create({ ...input, expires_in_ms: expires_in }, ctx);
        res.location(`/api/management-keys/${created.id}`);
        return created;
      },
    }),
    route({
      method: "get",
      path: "/api/management-keys",
      scope: "admin",
      summary: "List management keys, newest first",
      query: pageQuery,
      success: { status: 200, description: "A page of management keys", schema: page(managementKeyView) },
      handler: async ({ query }) => managementKeys.list(query.limit, query.cursor),
    }),
    route({
      method: "get",
      path: "/api/management-keys/:id",
      scope: "admin",
      summary: "Get one management key",
      params: managementKeyIdParams,
      notFoundOnBadParams: "management key",
      success: { status: 200, description: "The management key", schema: managementKeyView },
      errors: unknown,
      handler: async ({ params }) => managementKeys.get(params.id),
    }),
    route({
      method: "delete",
      path: "/api/management-keys/:id",
      scope: "admin",
      summary: "Revoke a management key (idempotent); every replica refuses it within a second",
      params: managementKeyIdParams,
      notFoundOnBadParams: "management key",
      success: { status: 200, description: "The revoked management key", schema: managementKeyView },
      errors: unknown,
      handler: async ({ params, ctx }) => managementKeys.revoke(params.id, ctx),
    }),
  ];
}
