import type { AuditService } from "../../audit/audit.service.js";
import { ownerFor } from "../owner.js";
import { route } from "../route.js";
import { auditQuery } from "../schemas.js";
import { auditEventView, page } from "../views.js";

export function auditRoutes(audit: AuditService) {
  return [
    route({
      method: "get",
      path: "/api/audit",
      scope: "audit:read",
      summary: "Read the audit log, newest first",
      description:
        "Filters combine: `key_id`, `user_id`, `action`, `actor_id` (`admin_token` or a management key id).",
      query: auditQuery,
      success: { status: 200, description: "A page of audit events", schema: page(auditEventView) },
      errors: { 404: "A user-bound credential asked for another user" },
      handler: async ({ query, principal }) => {
        const { limit, cursor, ...filter } = query;
        const user = ownerFor(principal, filter.user_id, "user");
        return audit.list({ ...filter, ...(user ? { user_id: user } : {}) }, limit, cursor);
      },
    }),
  ];
}
