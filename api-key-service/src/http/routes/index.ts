import type { AuditService } from "../../audit/audit.service.js";
import type { KeyChecker } from "../../authz/check-key.js";
import type { KeySearch } from "../../keys/key-search.js";
import type { KeyService } from "../../keys/keys.service.js";
import type { ManagementKeyService } from "../../management-keys/management-keys.service.js";
import type { PlanService } from "../../plans/plans.service.js";
import type { QuotaService } from "../../plans/quota.service.js";
import type { UsageService } from "../../usage/usage.service.js";
import type { UserDirectory } from "../../users/user-directory.js";
import type { UserService } from "../../users/users.service.js";
import type { WebhookService } from "../../webhooks/webhooks.service.js";
import { openApiDocument } from "../openapi.js";
import { type AnyRoute, route } from "../route.js";
import { openApiObject } from "../views.js";
import { auditRoutes } from "./audit.js";
import { keyRoutes } from "./keys.js";
import { managementKeyRoutes } from "./management-keys.js";
import { planRoutes } from "./plans.js";
import { quotaRoutes } from "./quota.js";
import { usageRoutes } from "./usage.js";
import { userRoutes } from "./users.js";
import { verifyRoutes } from "./verify.js";
import { webhookRoutes } from "./webhooks.js";

export interface RouteServices {
  keys: KeyService;
  keySearch: KeySearch;
  users: UserService;
  userDirectory: UserDirectory;
  audit: AuditService;
  usage: UsageService;
  managementKeys: ManagementKeyService;
  plans: PlanService;
  quotas: QuotaService;
  checker: KeyChecker;
  webhooks: WebhookService;
}

/**
 * Every REST route of the management API and the verify API. Handlers are only called by the
 * router: the OpenAPI document and the tests read the declarations with no services behind them.
 */
export function apiRoutes(services: RouteServices): AnyRoute[] {
  const routes: AnyRoute[] = [
    ...keyRoutes(services.keys, services.keySearch),
    ...userRoutes(services.users, services.userDirectory),
    ...planRoutes(services.plans),
    ...quotaRoutes(services.quotas),
    ...auditRoutes(services.audit),
    ...usageRoutes(services.usage, services.keys),
    ...managementKeyRoutes(services.managementKeys),
    ...verifyRoutes(services.checker),
    ...webhookRoutes(services.webhooks),
  ];
  let document: object | undefined;
  routes.push(
    route({
      method: "get",
      path: "/api/openapi.json",
      scope: null,
      summary: "This document (public: it holds no secret)",
      success: { status: 200, description: "OpenAPI 3.1", schema: openApiObject },
      handler: async () => {
        document ??= openApiDocument(routes);
        return document;
      },
    }),
  );
  return routes;
}

/** The declarations alone, for the OpenAPI document, the README check and the security tests. */
export const declaredRoutes = (): AnyRoute[] => apiRoutes({} as RouteServices);
