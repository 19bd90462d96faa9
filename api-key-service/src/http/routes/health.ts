import type { Express } from "express";
import type { Registry } from "prom-client";

/** Each check resolves when its dependency answers and rejects (or times out) when it does not. */
export type ReadinessChecks = Record<string, () => Promise<unknown>>;

const CHECK_TIMEOUT_MS = 1_000;

export function healthRoutes(app: Express, checks: ReadinessChecks, registry: Registry): void {
  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });

  app.get("/ready", async (_req, res) => {
    const entries = Object.entries(checks);
    const names = entries.map(([name]) => name);
    const outcomes = await Promise.allSettled(entries.map(([, check]) => withTimeout(check())));
    const results = Object.fromEntries(
      names.map((name, i) => [name, outcomes[i]?.status === "fulfilled" ? "ok" : "unavailable"]),
    );
    const ready = Object.values(results).every((r) => r === "ok");
    res.status(ready ? 200 : 503).json({ status: ready ? "ready" : "not ready", checks: results });
  });

  app.get("/metrics", async (_req, res) => {
    res.type(registry.contentType).send(await registry.metrics());
  });
}

function withTimeout(promise: Promise<unknown>): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error("timed out")), CHECK_TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
