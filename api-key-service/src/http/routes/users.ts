import { AppError } from "../../errors.js";
import type { UserDirectory } from "../../users/user-directory.js";
import type { UserService } from "../../users/users.service.js";
import { ownerFor } from "../owner.js";
import { route } from "../route.js";
import { pageQuery, updateUserBody, userIdParams } from "../schemas.js";
import { page, userSummaryView, userView } from "../views.js";
import { checkedCustomerErrors } from "./checked-customer.js";

export function userRoutes(users: UserService, directory: UserDirectory) {
  return [
    route({
      method: "put",
      path: "/api/users/:user_id",
      scope: "users:write",
      summary: "Set the Stripe customer this user's keys bill to, the user's plan or billing-cycle anchor",
      description:
        "Only the fields given change; null clears one. `plan_id` must name an existing plan (else 400). With STRIPE_API_KEY set, a new `stripe_customer_id` must name a customer in the Stripe account that is not deleted (else 422; 503 when Stripe cannot be asked). Changing `plan_id` or `billing_cycle_anchor` needs a credential not bound to a user (else 403): a developer portal cannot upgrade itself.",
      params: userIdParams,
      body: updateUserBody,
      success: { status: 200, description: "The user", schema: userView },
      errors: { 404: "A user-bound credential named another user", ...checkedCustomerErrors },
      handler: async ({ params, body, principal, ctx }) => {
        const user = ownerFor(principal, params.user_id, "user") ?? params.user_id;
        if (
          principal.userId !== null &&
          (body.plan_id !== undefined || body.billing_cycle_anchor !== undefined)
        ) {
          throw new AppError(
            "FORBIDDEN",
            "a management key bound to a user cannot change its plan or billing cycle",
          );
        }
        return users.update(user, body, ctx);
      },
    }),
    route({
      method: "get",
      path: "/api/users",
      scope: "users:read",
      summary:
        "List users by id, with their Stripe customer, plan, billing-cycle anchor, key counts by status and last use",
      query: pageQuery,
      success: { status: 200, description: "A page of users", schema: page(userSummaryView) },
      handler: async ({ query, principal }) =>
        directory.list(query.limit, query.cursor, principal.userId ?? undefined),
    }),
    route({
      method: "get",
      path: "/api/users/:user_id",
      scope: "users:read",
      summary:
        "One user, with their Stripe customer, plan, billing-cycle anchor, key counts by status and last use",
      params: userIdParams,
      success: { status: 200, description: "The user", schema: userSummaryView },
      errors: { 404: "No such user (or not this credential's user)" },
      handler: async ({ params, principal }) =>
        directory.get(ownerFor(principal, params.user_id, "user") ?? params.user_id),
    }),
  ];
}
