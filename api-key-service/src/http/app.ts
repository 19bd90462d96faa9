import type { Logger } from "@gateway/common";
import cors from "cors";
import express, { type Express } from "express";
import helmet from "helmet";
import { Counter, Histogram, type Registry } from "prom-client";
import type { KeyFormat } from "../keys/key-format.js";
import type { ManagementKeyAuth } from "../management-keys/management-key-auth.js";
import { AdminAuthLimiter, type AdminAuthLimits } from "./admin-auth-limiter.js";
import { authenticator } from "./authenticate.js";
import { mountConsole } from "./console.js";
import { errorHandler, notFoundRoute } from "./problem.js";
import { requestLog } from "./request-log.js";
import { mountRoutes } from "./router.js";
import { healthRoutes, type ReadinessChecks } from "./routes/health.js";
import { apiRoutes, type RouteServices } from "./routes/index.js";

export interface AppDeps extends RouteServices {
  adminToken: string;
  managementKeyFormat: KeyFormat;
  managementKeyAuth: ManagementKeyAuth;
  /** Failed admin authentications allowed per client address and window, before 429. */
  adminAuthLimits: AdminAuthLimits;
  corsOrigins: string[];
  /** One proxy in front of the service: take the client address it appended to X-Forwarded-For. */
  trustProxy: boolean;
  logger: Logger;
  registry: Registry;
  readiness: ReadinessChecks;
}

export function createHttpApp(deps: AppDeps): Express {
  const app = express();
  app.disable("x-powered-by");
  // One hop, not `true`: express would then take the left-most X-Forwarded-For entry, which the
  // client writes itself, and anyone could pick a fresh address for each failed admin token.
  app.set("trust proxy", deps.trustProxy ? 1 : false);
  app.set("etag", false);

  app.use(requestLog(deps.logger, httpMetrics(deps.registry)));
  app.use(helmet());
  app.use((_req, res, next) => {
    res.setHeader("Cache-Control", "no-store");
    next();
  });
  if (deps.corsOrigins.length > 0) app.use(cors({ origin: deps.corsOrigins, maxAge: 600 }));

  healthRoutes(app, deps.readiness, deps.registry);
  const requireScope = authenticator({
    adminToken: deps.adminToken,
    managementKeyFormat: deps.managementKeyFormat,
    managementKeys: deps.managementKeyAuth,
    limiter: new AdminAuthLimiter(deps.adminAuthLimits, deps.registry, deps.logger),
  });
  mountRoutes(app, apiRoutes(deps), requireScope);
  // The console's files; it calls the routes above like any other client.
  mountConsole(app);

  app.use(notFoundRoute);
  app.use(errorHandler(deps.logger));
  return app;
}

function httpMetrics(registry: Registry) {
  return {
    requests: new Counter({
      name: "http_requests_total",
      help: "Management API requests by method, route and status",
      labelNames: ["method", "route", "status"] as const,
      registers: [registry],
    }),
    duration: new Histogram({
      name: "http_request_duration_seconds",
      help: "Management API request duration",
      labelNames: ["method", "route"] as const,
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
  };
}
