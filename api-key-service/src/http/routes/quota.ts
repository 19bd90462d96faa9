import type { QuotaService } from "../../plans/quota.service.js";
import { ownerFor } from "../owner.js";
import { route } from "../route.js";
import { userIdParams } from "../schemas.js";
import { quotaView } from "../views.js";

export function quotaRoutes(quotas: QuotaService) {
  return [
    route({
      method: "get",
      path: "/api/users/:user_id/quota",
      scope: "usage:read",
      summary: "The user's quota in the current billing period: units used and remaining, exact",
      params: userIdParams,
      success: { status: 200, description: "The quota", schema: quotaView },
      errors: { 404: "No such user (or not this credential's user)" },
      handler: async ({ params, principal }) =>
        quotas.get(ownerFor(principal, params.user_id, "user") ?? params.user_id),
    }),
  ];
}
