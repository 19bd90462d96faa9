import type { Principal } from "../../access/scopes.js";
import { AppError } from "../../errors.js";
import type { PlanService } from "../../plans/plans.service.js";
import { route } from "../route.js";
import { createPlanBody, pageQuery, planIdParams, updatePlanBody } from "../schemas.js";
import { page, planView } from "../views.js";

const unknownPlan = { 404: "No such plan" };

/** Plans are shared by every user: a credential bound to one user could raise its own limits. */
function refuseUserBound(principal: Principal): void {
  if (principal.userId !== null) {
    throw new AppError("FORBIDDEN", "a management key bound to a user cannot change plans");
  }
}

export function planRoutes(plans: PlanService) {
  return [
    route({
      method: "post",
      path: "/api/plans",
      scope: "plans:write",
      summary: "Create a plan: limits for keys without their own, a monthly quota, overage, alert thresholds",
      body: createPlanBody,
      success: { status: 201, description: "The plan", schema: planView },
      errors: { 409: "A plan with this id exists" },
      handler: async ({ body, principal, ctx, res }) => {
        refuseUserBound(principal);
        const created = await plans.create(body, ctx);
        res.location(`/api/plans/${created.id}`);
        return created;
      },
    }),
    route({
      method: "get",
      path: "/api/plans",
      scope: "plans:read",
      summary: "List plans by id",
      query: pageQuery,
      success: { status: 200, description: "A page of plans", schema: page(planView) },
      handler: async ({ query }) => plans.list(query.limit, query.cursor),
    }),
    route({
      method: "get",
      path: "/api/plans/:id",
      scope: "plans:read",
      summary: "Get one plan",
      params: planIdParams,
      notFoundOnBadParams: "plan",
      success: { status: 200, description: "The plan", schema: planView },
      errors: unknownPlan,
      handler: async ({ params }) => plans.get(params.id),
    }),
    route({
      method: "patch",
      path: "/api/plans/:id",
      scope: "plans:write",
      summary: "Change a plan; every replica applies it to the plan's users' keys within a second",
      params: planIdParams,
      notFoundOnBadParams: "plan",
      body: updatePlanBody,
      success: { status: 200, description: "The updated plan", schema: planView },
      errors: unknownPlan,
      handler: async ({ params, body, principal, ctx }) => {
        refuseUserBound(principal);
        return plans.update(params.id, body, ctx);
      },
    }),
    route({
      method: "delete",
      path: "/api/plans/:id",
      scope: "plans:write",
      summary: "Delete a plan no user is on",
      params: planIdParams,
      notFoundOnBadParams: "plan",
      success: { status: 200, description: "The deleted plan", schema: planView },
      errors: { ...unknownPlan, 409: "Users are on this plan" },
      handler: async ({ params, principal, ctx }) => {
        refuseUserBound(principal);
        return plans.delete(params.id, ctx);
      },
    }),
  ];
}
