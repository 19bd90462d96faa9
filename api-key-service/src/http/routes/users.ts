import type { UserDirectory } from "../../users/user-directory.js";
import type { UserService } from "../../users/users.service.js";
import { ownerFor } from "../owner.js";
import { route } from "../route.js";
import { pageQuery, userBillingBody, userIdParams } from "../schemas.js";
import { page, userSummaryView, userView } from "../views.js";

export function userRoutes(users: UserService, directory: UserDirectory) {
  return [
    route({
      method: "put",
      path: "/api/users/:user_id",
      scope: "users:write",
      summary: "Set the Stripe customer this user's keys bill to",
      params: userIdParams,
      body: userBillingBody,
      success: { status: 200, description: "The user", schema: userView },
      errors: { 404: "A user-bound credential named another user" },
      handler: async ({ params, body, principal, ctx }) => {
        const user = ownerFor(principal, params.user_id, "user") ?? params.user_id;
        return users.setBilling(user, body.stripe_customer_id, ctx);
      },
    }),
    route({
      method: "get",
      path: "/api/users",
      scope: "users:read",
      summary: "List users by id, with their Stripe customer, key counts by status and last use",
      query: pageQuery,
      success: { status: 200, description: "A page of users", schema: page(userSummaryView) },
      handler: async ({ query, principal }) =>
        directory.list(query.limit, query.cursor, principal.userId ?? undefined),
    }),
    route({
      method: "get",
      path: "/api/users/:user_id",
      scope: "users:read",
      summary: "One user, with their Stripe customer, key counts by status and last use",
      params: userIdParams,
      success: { status: 200, description: "The user", schema: userSummaryView },
      errors: { 404: "No such user (or not this credential's user)" },
      handler: async ({ params, principal }) =>
        directory.get(ownerFor(principal, params.user_id, "user") ?? params.user_id),
    }),
  ];
}
