import { createTestDatabase } from "@gateway/testing";
import { inject } from "vitest";
import { loadConfig } from "../src/config.js";
import { createService } from "../src/main.js";
import { ADMIN_TOKEN, describe, expect, test } from "./fixtures.js";

describe("health, readiness and metrics", () => {
  test("/health and /ready answer without a token; /openapi.json needs one", async ({ api }) => {
    expect((await api.request("GET", "/health", { token: null })).body).toEqual({ status: "ok" });
    const ready = await api.request("GET", "/ready", { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body).toEqual({ status: "ready", checks: { postgres: "ok", redis: "ok" } });
    expect((await api.request("GET", "/api/openapi.json")).body.openapi).toBe("3.1.0");
  });

  test("/metrics exposes request counts and latency by route", async ({ api }) => {
    await api.createKey();
    await api.request("GET", "/api/keys/nobody", { token: null });
    await api.request("GET", "/no/such/route", { token: null });
    const res = await api.request("GET", "/metrics", { token: null });
    expect(res.status).toBe(200);
    expect(res.text).toMatch(/http_requests_total\{method="POST",route="\/api\/keys",status="201"\} 1/);
    // A refused credential is counted under the route it asked for; an unknown path as "unmatched".
    expect(res.text).toMatch(
      /http_requests_total\{method="GET",route="\/api\/keys\/:user_id",status="401"\} 1/,
    );
    expect(res.text).toMatch(/http_requests_total\{method="GET",route="unmatched",status="404"\} 1/);
    expect(res.text).toContain("http_request_duration_seconds_bucket");
    expect(res.text).toContain("process_resident_memory_bytes");
  });

  test("/ready is 503 naming Redis when Redis cannot be reached", async ({ services }) => {
    const config = loadConfig({
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: "redis://127.0.0.1:1",
      ADMIN_TOKEN,
      HTTP_PORT: "0",
      GRPC_PORT: "0",
      AUTH_HTTP_PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
    });
    const service = createService(config);
    const { httpPort } = await service.start();
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/ready`);
      expect(res.status).toBe(503);
      expect(await res.json()).toEqual({
        status: "not ready",
        checks: { postgres: "ok", redis: "unavailable" },
      });
    } finally {
      await service.stop();
    }
  });
});

describe("configuration", () => {
  const base = { DATABASE_URL: "postgres://localhost/db", REDIS_URL: "redis://localhost:6379", ADMIN_TOKEN };

  test("defaults follow the documented ports and limits", () => {
    const config = loadConfig(base);
    expect(config).toMatchObject({
      HTTP_PORT: 8080,
      GRPC_PORT: 9001,
      KEY_PREFIX: "gw",
      DEFAULT_RATE_LIMIT_PER_MINUTE: 100,
      DEFAULT_RATE_LIMIT_PER_DAY: 10_000,
      KEY_ROTATION_GRACE: 86_400_000,
      MIGRATE_ON_START: true,
      CORS_ORIGINS: [],
    });
  });

  test.for([
    [{ ADMIN_TOKEN: "short" }, "ADMIN_TOKEN: must be at least 32 characters"],
    [{ ADMIN_TOKEN: undefined }, "ADMIN_TOKEN: is required"],
    [{ DATABASE_URL: "mysql://x" }, "DATABASE_URL: must be a URL starting with postgres:// or postgresql://"],
    [{ HTTP_PORT: "80a" }, "HTTP_PORT:"],
    [{ HTTP_PORT: "70000" }, "HTTP_PORT:"],
    [{ KEY_PREFIX: "Bad-Prefix" }, "KEY_PREFIX:"],
    [{ MIGRATE_ON_START: "maybe" }, "MIGRATE_ON_START: must be true or false"],
    [{ KEY_ROTATION_GRACE: "1 day" }, "KEY_ROTATION_GRACE: must be a duration"],
    [{ DEFAULT_RATE_LIMIT_PER_MINUTE: "0" }, "DEFAULT_RATE_LIMIT_PER_MINUTE:"],
  ] as const)("%o is refused, naming the variable", ([change, message]) => {
    expect(() => loadConfig({ ...base, ...change })).toThrow(message);
  });

  test("MIGRATE_ON_START=false and CORS_ORIGINS are read", () => {
    const config = loadConfig({
      ...base,
      MIGRATE_ON_START: "false",
      CORS_ORIGINS: "https://a.example, https://b.example",
    });
    expect(config.MIGRATE_ON_START).toBe(false);
    expect(config.CORS_ORIGINS).toEqual(["https://a.example", "https://b.example"]);
  });
});

describe("start-up options", () => {
  test("MIGRATE_ON_START=false leaves an empty database alone; CORS answers only configured origins", async ({
    services,
  }) => {
    const empty = await createTestDatabase(inject("databaseUrl"), "template0");
    const config = loadConfig({
      DATABASE_URL: empty.url,
      REDIS_URL: services.redisUrl,
      ADMIN_TOKEN,
      HTTP_PORT: "0",
      GRPC_PORT: "0",
      AUTH_HTTP_PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "silent",
      MIGRATE_ON_START: "false",
      CORS_ORIGINS: "https://portal.example",
    });
    const service = createService(config);
    const { httpPort } = await service.start();
    try {
      const url = `http://127.0.0.1:${httpPort}`;
      const listed = await fetch(`${url}/api/keys/alice`, {
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      expect(listed.status).toBe(500); // no tables: the operator chose to migrate separately
      const allowed = await fetch(`${url}/health`, { headers: { origin: "https://portal.example" } });
      expect(allowed.headers.get("access-control-allow-origin")).toBe("https://portal.example");
      const other = await fetch(`${url}/health`, { headers: { origin: "https://evil.example" } });
      expect(other.headers.get("access-control-allow-origin")).toBeNull();
    } finally {
      await service.stop();
      await empty.drop();
    }
  });
});
