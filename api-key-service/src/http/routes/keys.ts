import { AppError } from "../../errors.js";
import type { KeySearch } from "../../keys/key-search.js";
import type { KeyService } from "../../keys/keys.service.js";
import { ownerFor } from "../owner.js";
import { route } from "../route.js";
import {
  createKeyBody,
  keyIdParams,
  listKeysQuery,
  ownerQuery,
  rotateKeyBody,
  searchKeysQuery,
  updateKeyBody,
  userIdParams,
} from "../schemas.js";
import { keyView, keyWithSecretView, page } from "../views.js";
import { checkedCustomerErrors } from "./checked-customer.js";

const revoked = { 409: "The key is revoked" };
const unknownKey = { 404: "No such key (or not this user's key)" };

export function keyRoutes(keys: KeyService, search: KeySearch) {
  return [
    route({
      method: "post",
      path: "/api/keys",
      scope: "keys:write",
      summary: "Create a key. The secret is in `key` and is shown this once.",
      body: createKeyBody,
      success: { status: 201, description: "The key, with its secret", schema: keyWithSecretView },
      errors: checkedCustomerErrors,
      handler: async ({ body, principal, ctx, res }) => {
        if (principal.userId !== null && body.user_id !== principal.userId) {
          throw new AppError("FORBIDDEN", `this management key acts only for user ${principal.userId}`);
        }
        const { expires_in, ...input } = body;
        const created = await keys.create({ ...input, expires_in_ms: expires_in }, ctx);
        res.location(`/api/keys/by-id/${created.id}`);
        return created;
      },
    }),
    route({
      method: "get",
      path: "/api/keys",
      scope: "keys:read",
      summary: "Search all keys, newest first",
      description:
        "Filters combine: `user_id`, `status`, `q` (the start of the name, any case, or of the key's `start`), `created_after`, `created_before`.",
      query: searchKeysQuery,
      success: { status: 200, description: "A page of keys", schema: page(keyView) },
      handler: async ({ query, principal }) => {
        const { limit, cursor, ...filter } = query;
        const user = ownerFor(principal, filter.user_id, "user");
        return search.search({ ...filter, ...(user ? { user_id: user } : {}) }, limit, cursor);
      },
    }),
    route({
      method: "get",
      path: "/api/keys/:user_id",
      scope: "keys:read",
      summary: "List a user's keys, newest first",
      params: userIdParams,
      query: listKeysQuery,
      success: { status: 200, description: "A page of keys", schema: page(keyView) },
      errors: { 404: "A user-bound credential asked for another user" },
      handler: async ({ params, query, principal }) => {
        const user = ownerFor(principal, params.user_id, "user") ?? params.user_id;
        return keys.list(user, query.limit, query.cursor);
      },
    }),
    route({
      method: "delete",
      path: "/api/keys/:id",
      scope: "keys:write",
      summary: "Revoke a key (idempotent)",
      params: keyIdParams,
      notFoundOnBadParams: "key",
      query: ownerQuery,
      success: { status: 200, description: "The revoked key", schema: keyView },
      errors: unknownKey,
      handler: async ({ params, query, principal, ctx }) =>
        keys.revoke(params.id, ctx, { userId: ownerFor(principal, query.user_id, "key") }),
    }),
    route({
      method: "get",
      path: "/api/keys/by-id/:id",
      scope: "keys:read",
      summary: "Get one key",
      params: keyIdParams,
      notFoundOnBadParams: "key",
      query: ownerQuery,
      success: { status: 200, description: "The key", schema: keyView },
      errors: unknownKey,
      handler: async ({ params, query, principal }) =>
        keys.get(params.id, { userId: ownerFor(principal, query.user_id, "key") }),
    }),
    route({
      method: "patch",
      path: "/api/keys/by-id/:id",
      scope: "keys:write",
      summary: "Update name, limits, scopes, metadata, expiry, billing or enabled",
      params: keyIdParams,
      notFoundOnBadParams: "key",
      query: ownerQuery,
      body: updateKeyBody,
      success: { status: 200, description: "The updated key", schema: keyView },
      errors: { ...unknownKey, ...revoked, ...checkedCustomerErrors },
      handler: async ({ params, query, body, principal, ctx }) => {
        const { expires_in, ...input } = body;
        return keys.update(params.id, { ...input, expires_in_ms: expires_in }, ctx, {
          userId: ownerFor(principal, query.user_id, "key"),
        });
      },
    }),
    route({
      method: "post",
      path: "/api/keys/by-id/:id/rotate",
      scope: "keys:write",
      summary: "Issue a new secret; the old one keeps working for the grace period",
      params: keyIdParams,
      notFoundOnBadParams: "key",
      query: ownerQuery,
      body: rotateKeyBody,
      bodyOptional: true,
      success: { status: 200, description: "The key, with its new secret", schema: keyWithSecretView },
      errors: { ...unknownKey, ...revoked },
      handler: async ({ params, query, body, principal, ctx }) =>
        keys.rotate(params.id, body.grace_period, ctx, { userId: ownerFor(principal, query.user_id, "key") }),
    }),
  ];
}
