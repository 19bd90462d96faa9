import { describe, expect, test } from "vitest";
import { ENDPOINT } from "./helpers/endpoint.js";
import {
  headersAround,
  loadTraefikConfig,
  middlewareChain,
  parseTraefikYaml,
  pathRegexpOf,
  schemaIssues,
} from "./helpers/traefik.js";

// Traefik is not packaged for Debian: its configuration is proven by its own JSON schema and by what
// the file must say for the check to work, not by running it.

describe("gateways/traefik/dynamic.yml against Traefik's file-provider schema", () => {
  test("is valid", () => {
    expect(schemaIssues(loadTraefikConfig())).toEqual([]);
  });

  /** A broken copy, and where the schema must point. */
  const breakages: { name: string; breakIt: (c: any) => void; path: string }[] = [
    {
      name: "a misspelt forwardAuth field",
      breakIt: (c) => {
        const fa = c.http.middlewares["forward-auth"].forwardAuth;
        fa.authResponseHeader = fa.authResponseHeaders;
        delete fa.authResponseHeaders;
      },
      path: "/http/middlewares/forward-auth/forwardAuth/authResponseHeader",
    },
    {
      name: "a single header name where a list belongs",
      breakIt: (c) => {
        c.http.middlewares["forward-auth"].forwardAuth.authResponseHeaders = "X-Api-Key-Id";
      },
      path: "/http/middlewares/forward-auth/forwardAuth/authResponseHeaders",
    },
    {
      name: "a router without a service",
      breakIt: (c) => {
        delete c.http.routers.admin.service;
      },
      path: "/http/routers/admin",
    },
    {
      name: "a middleware type Traefik does not have",
      breakIt: (c) => {
        c.http.middlewares["forward-auth"] = { forwardAuthentication: { address: "http://x" } };
      },
      path: "/http/middlewares/forward-auth",
    },
    {
      name: "a service without servers",
      breakIt: (c) => {
        c.http.services.backend.loadBalancer.servers = [];
      },
      path: "/http/services/backend/loadBalancer/servers",
    },
    {
      name: "a number where a header value belongs",
      breakIt: (c) => {
        c.http.middlewares["route-render"].headers.customRequestHeaders["X-Request-Cost"] = 20;
      },
      path: "/http/middlewares/route-render/headers/customRequestHeaders/X-Request-Cost",
    },
  ];

  test.each(breakages)("refuses $name, naming where", ({ breakIt, path }) => {
    const config = loadTraefikConfig();
    breakIt(config);
    expect(schemaIssues(config).map((i) => i.path)).toContain(path);
  });

  test("a duplicate key is refused, as Traefik's YAML reader refuses it", () => {
    expect(parseTraefikYaml("http:\n  routers: {}\n  routers: {}\n").issues).toHaveLength(1);
  });
});

describe("what the Traefik configuration must say for the check to work", () => {
  const config = loadTraefikConfig();
  const routers: Record<string, any> = config.http.routers;

  test("every router names a defined service and defined middlewares", () => {
    for (const [name, router] of Object.entries(routers)) {
      expect(config.http.services, name).toHaveProperty(router.service);
      expect(() => middlewareChain(config, router.middlewares ?? []), name).not.toThrow();
    }
  });

  test("the forwardAuth middleware asks the forward-auth endpoint, replaces X-Forwarded-*, and copies the identity", () => {
    const forwardAuths = Object.values<any>(config.http.middlewares).filter((m) => m.forwardAuth);
    expect(forwardAuths).toHaveLength(1);
    const fa = forwardAuths[0].forwardAuth;
    const address = new URL(fa.address);
    expect(address.pathname).toBe(ENDPOINT.path);
    expect(Number(address.port)).toBe(ENDPOINT.port);
    expect(fa.trustForwardHeader).toBe(false);
    expect(fa.authResponseHeaders.map((h: string) => h.toLowerCase()).sort()).toEqual(
      [...ENDPOINT.identityHeaders].sort(),
    );
    // All of the client's headers go to the check (its key among them) unless this list trims them.
    expect(fa).not.toHaveProperty("authRequestHeaders");
  });

  test("every router but /health passes the check, and only one check", () => {
    for (const [name, router] of Object.entries(routers)) {
      const checks = middlewareChain(config, router.middlewares ?? []).filter(
        ({ middleware }) => middleware.forwardAuth,
      );
      expect({ name, checks: checks.length }).toEqual({ name, checks: name === "health" ? 0 : 1 });
    }
    expect(routers.health.rule).toBe("Path(`/health`)");
  });

  test("each route sets its scopes and cost before the check, whatever the client sent", () => {
    const expected: Record<string, { scopes: string; cost: string }> = {
      admin: { scopes: "admin", cost: "" },
      render: { scopes: "", cost: "20" },
      default: { scopes: "", cost: "" },
    };
    for (const [name, { scopes, cost }] of Object.entries(expected)) {
      const { before } = headersAround(config, name);
      expect({ name, scopes: before[ENDPOINT.scopesHeader], cost: before[ENDPOINT.costHeader] }).toEqual({
        name,
        scopes,
        cost,
      });
    }
  });

  test("the check carries the gateway token from Traefik's environment", () => {
    for (const name of ["admin", "render", "default"]) {
      expect(headersAround(config, name).before[ENDPOINT.tokenHeader]).toBe('{{ env "INTERNAL_TOKEN" }}');
    }
    // The only template expression in the file: nothing else is rendered.
    const text = JSON.stringify(config);
    expect(text.match(/\{\{/g)).toHaveLength(1);
  });

  test("the upstream request carries the identity and neither the key nor the gateway's own headers", () => {
    for (const name of ["admin", "render", "default"]) {
      const { after } = headersAround(config, name);
      for (const header of [
        ENDPOINT.authorizationHeader,
        ENDPOINT.apiKeyHeader,
        ENDPOINT.tokenHeader,
        ENDPOINT.scopesHeader,
        ENDPOINT.costHeader,
      ])
        expect({ name, header, value: after[header] }).toEqual({ name, header, value: "" });
      for (const header of ENDPOINT.identityHeaders)
        expect(after[header], `${name} ${header}`).toBe("(from the check)");
    }
    // Unchecked: the client's identity headers are removed, as nothing overwrites them.
    const health = headersAround(config, "health").after;
    for (const header of ENDPOINT.identityHeaders) expect(health[header]).toBe("");
  });

  test("the scoped and costly routes match every spelling the backend's router accepts, and outrank the default", () => {
    const admin = pathRegexpOf(routers.admin.rule);
    for (const path of ["/admin", "/ADMIN", "/Admin/", "/admin/users"])
      expect(admin.test(path), path).toBe(true);
    for (const path of ["/administrator", "/x/admin"]) expect(admin.test(path), path).toBe(false);
    const render = pathRegexpOf(routers.render.rule);
    for (const path of ["/render", "/RENDER/x"]) expect(render.test(path), path).toBe(true);
    expect(render.test("/renderer")).toBe(false);
    expect(routers.admin.priority).toBeGreaterThan(routers.default.priority);
    expect(routers.render.priority).toBeGreaterThan(routers.default.priority);
    expect(routers.health.priority).toBeGreaterThan(routers.default.priority);
  });
});
