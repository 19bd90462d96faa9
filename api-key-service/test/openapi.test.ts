import { createLogger } from "@gateway/common";
import { Registry } from "prom-client";
import { describe, expect, test } from "vitest";
import type { AuditService } from "../src/audit/audit.service.js";
import { createHttpApp } from "../src/http/app.js";
import { openApiDocument } from "../src/http/openapi.js";
import type { KeyService } from "../src/keys/keys.service.js";
import type { UsageService } from "../src/usage/usage.service.js";
import type { UserService } from "../src/users/users.service.js";

/** Every route express has registered, as "METHOD /openapi/{style}/path". */
function registeredRoutes(): string[] {
  const app = createHttpApp({
    adminToken: "x".repeat(32),
    adminAuthLimits: { maxFailures: 10, windowMs: 60_000 },
    corsOrigins: [],
    trustProxy: false,
    logger: createLogger({ service: "test", level: "silent" }),
    registry: new Registry(),
    keys: {} as KeyService,
    users: {} as UserService,
    audit: {} as AuditService,
    usage: {} as UsageService,
    readiness: {},
  });
  const stack = (
    app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }
  ).router.stack;
  return stack.flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods)
          .filter((m) => m !== "_all")
          .map((m) => `${m.toUpperCase()} ${layer.route?.path.replace(/:(\w+)/g, "{$1}")}`)
      : [],
  );
}

describe("the OpenAPI document", () => {
  test("is OpenAPI 3.1 and documents every registered route, and nothing else", () => {
    const doc = openApiDocument();
    expect(doc.openapi).toBe("3.1.0");
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    const registered = registeredRoutes();
    expect(registered.length).toBeGreaterThanOrEqual(12);
    expect([...documented].sort()).toEqual([...registered].sort());
  });

  test("request bodies come from the same schemas the routes validate with", () => {
    const doc = openApiDocument();
    const create = doc.paths["/api/keys"].post.requestBody.content["application/json"].schema as {
      properties: Record<string, unknown>;
      required: string[];
      additionalProperties: boolean;
    };
    expect(Object.keys(create.properties)).toEqual(
      expect.arrayContaining([
        "user_id",
        "name",
        "rate_limit_per_minute",
        "scopes",
        "expires_in",
        "metadata",
      ]),
    );
    expect(create.required).toEqual(expect.arrayContaining(["user_id", "name"]));
    expect(create.additionalProperties).toBe(false);
  });
});
