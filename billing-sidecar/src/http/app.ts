import express, { type Express, type Router } from "express";
import type { Registry } from "prom-client";

export type Readiness = () => Promise<Record<string, string>>;

/**
 * /health (up), /ready (Postgres reachable; Stripe state), /metrics, and the routers given (POST
 * /stripe/webhook). No body parser is mounted app-wide: the webhook must see the raw bytes.
 */
export function createHttpApp(registry: Registry, readiness: Readiness, routers: Router[] = []): Express {
  const app = express();
  app.disable("x-powered-by");
  for (const router of routers) app.use(router);
  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/ready", async (_req, res) => {
    const checks = await readiness();
    const ready = checks.postgres === "ok";
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not ready", checks });
  });
  app.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
  app.use((_req, res) => {
    res.status(404).json({ error: "not found" });
  });
  return app;
}
