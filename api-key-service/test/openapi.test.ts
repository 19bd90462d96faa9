import { readFileSync } from "node:fs";
import { createLogger } from "@gateway/common";
import { Registry } from "prom-client";
import { describe, expect, test } from "vitest";
import { type AppDeps, createHttpApp } from "../src/http/app.js";
import { openApiDocument } from "../src/http/openapi.js";
import { openApiPath } from "../src/http/route.js";
import { declaredRoutes } from "../src/http/routes/index.js";
import { KeyFormat } from "../src/keys/key-format.js";

/** Every route express has registered, as "METHOD /openapi/{style}/path". */
function registeredRoutes(): string[] {
  const app = createHttpApp({
    adminToken: "x".repeat(32),
    adminAuthLimits: { maxFailures: 10, windowMs: 60_000 },
    corsOrigins: [],
    trustProxy: false,
    logger: createLogger({ service: "test", level: "silent" }),
    registry: new Registry(),
    managementKeyFormat: new KeyFormat("gwm"),
    readiness: {},
  } as Partial<AppDeps> as AppDeps);
  const stack = (
    app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }
  ).router.stack;
  return stack.flatMap((layer) =>
    layer.route
      ? Object.keys(layer.route.methods)
          .filter((m) => m !== "_all")
          .map((m) => `${m.toUpperCase()} ${openApiPath(layer.route?.path ?? "")}`)
      : [],
  );
}

const doc = openApiDocument(declaredRoutes()) as any;
const documented = Object.entries(doc.paths as Record<string, object>).flatMap(([path, ops]) =>
  Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
);

describe("the OpenAPI document", () => {
  test("is OpenAPI 3.1 and documents every registered route, and nothing else", () => {
    expect(doc.openapi).toBe("3.1.0");
    // The console's pages are the browser app's files, not the API it is built on.
    const isConsole = (route: string) => /^GET \/console(\/|$)/.test(route);
    expect(registeredRoutes().filter(isConsole).length).toBeGreaterThan(0);
    const registered = registeredRoutes().filter((route) => !isConsole(route));
    expect(registered.length).toBeGreaterThanOrEqual(20);
    expect([...documented].sort()).toEqual([...registered].sort());
  });

  test("request bodies come from the same schemas the routes validate with", () => {
    const create = doc.paths["/api/keys"].post.requestBody.content["application/json"].schema;
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

  test("every guarded route names its scope and answers 401, 403 and 429; the document itself is public", () => {
    for (const r of declaredRoutes()) {
      const op = doc.paths[openApiPath(r.path)][r.method];
      if (r.scope === null) {
        expect(op.security, r.path).toEqual([]);
        continue;
      }
      expect(op["x-required-scope"], `${r.method} ${r.path}`).toBe(r.scope);
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(["401", "403", "429"]));
    }
    expect(
      declaredRoutes()
        .filter((r) => r.scope === null)
        .map((r) => r.path),
    ).toEqual(["/api/openapi.json"]);
  });

  test("responses reference shared component schemas", () => {
    expect(Object.keys(doc.components.schemas)).toEqual(
      expect.arrayContaining([
        "Key",
        "KeyWithSecret",
        "ManagementKey",
        "AuditEvent",
        "Problem",
        "VerifyResult",
      ]),
    );
  });
});

describe("README's Management API table", () => {
  test("lists exactly the declared routes", () => {
    const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
    const section = readme.split("## Management API")[1]?.split("\n## ")[0] ?? "";
    const listed = [...section.matchAll(/^\| `(GET|POST|PUT|PATCH|DELETE) (\/[^`]*)`/gm)].map(
      (m) => `${m[1]} ${openApiPath(m[2] ?? "")}`,
    );
    const declared = declaredRoutes().map((r) => `${r.method.toUpperCase()} ${openApiPath(r.path)}`);
    const operations = ["GET /health", "GET /ready", "GET /metrics"];
    expect([...listed].sort()).toEqual([...declared, ...operations].sort());
  });
});
