import { z } from "zod";
import {
  createDocument,
  type oas31,
  type ZodOpenApiOperationObject,
  type ZodOpenApiPathsObject,
} from "zod-openapi";
import { type AnyRoute, openApiPath } from "./route.js";
import { problemView } from "./views.js";

const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: problemView } },
});

const retryAfter = {
  "Retry-After": {
    description: "Seconds until the address's oldest failure leaves the window",
    schema: { type: "integer" as const, minimum: 1 },
  },
};

const retryLater = {
  "Retry-After": {
    description: "Seconds to wait before trying again",
    schema: { type: "integer" as const, minimum: 1 },
  },
};

/** The statuses a route answers besides its success, from what it declares. */
function errorResponses(r: AnyRoute) {
  const responses: Record<string, ReturnType<typeof problem> & { headers?: typeof retryAfter }> = {};
  if (r.params || r.query || r.body)
    responses["400"] = problem("Invalid input; `errors` names each offending field");
  if (r.scope) {
    responses["401"] = problem("Missing, unknown, revoked or expired admin token or management key");
    responses["403"] = problem(`The credential lacks the scope \`${r.scope}\``);
    responses["429"] = {
      ...problem(
        "Too many failed authentications from this client address (ADMIN_AUTH_MAX_FAILURES per ADMIN_AUTH_FAILURE_WINDOW); refused before the credential is looked at, the right one included",
      ),
      headers: retryAfter,
    };
  }
  if (r.body) {
    responses["413"] = problem("The body is larger than 1 MB");
    responses["415"] = problem("The body is not JSON");
  }
  for (const [status, description] of Object.entries(r.errors ?? {}))
    responses[status] =
      status === "503" ? { ...problem(description), headers: retryLater } : problem(description);
  return responses;
}

function operation(r: AnyRoute): ZodOpenApiOperationObject {
  const content: Record<string, { schema: z.ZodType }> = { "application/json": { schema: r.success.schema } };
  if (r.success.csv) content["text/csv"] = { schema: z.string() };
  return {
    summary: r.summary,
    ...(r.description ? { description: r.description } : {}),
    security: r.scope ? [{ managementCredential: [] }] : [],
    ...(r.scope ? { "x-required-scope": r.scope } : {}),
    requestParams: {
      ...(r.params ? { path: r.params } : {}),
      ...(r.query ? { query: r.query } : {}),
    },
    ...(r.body
      ? { requestBody: { required: !r.bodyOptional, content: { "application/json": { schema: r.body } } } }
      : {}),
    responses: {
      [String(r.success.status)]: { description: r.success.description, content },
      ...errorResponses(r),
    },
  };
}

/** The endpoints beside the REST API: liveness, readiness and metrics, for operators and probes. */
const OPERATIONS: ZodOpenApiPathsObject = {
  "/health": {
    get: {
      security: [],
      summary: "The process is up",
      responses: {
        "200": {
          description: "Up",
          content: { "application/json": { schema: z.object({ status: z.string() }) } },
        },
      },
    },
  },
  "/ready": {
    get: {
      security: [],
      summary: "Postgres and Redis are reachable",
      responses: {
        "200": { description: "Ready" },
        "503": { description: "Not ready: `checks` names the dependency that does not answer" },
      },
    },
  },
  "/metrics": {
    get: {
      security: [],
      summary: "Prometheus metrics",
      responses: { "200": { description: "Text exposition format", content: { "text/plain": {} } } },
    },
  },
};

/** The OpenAPI 3.1 description of the routes, served at /api/openapi.json. */
export function openApiDocument(routes: readonly AnyRoute[]): oas31.OpenAPIObject {
  const paths: ZodOpenApiPathsObject = { ...OPERATIONS };
  for (const r of routes) {
    const path = openApiPath(r.path);
    paths[path] = { ...paths[path], [r.method]: operation(r) };
  }
  return createDocument({
    openapi: "3.1.0",
    info: {
      title: "API-key gateway management API",
      version: "1.0.0",
      description:
        "Create, find, update, rotate and revoke API keys; manage scoped management keys; set billing; read usage and the audit log; verify a key. Each route names the management scope it needs; the admin token holds every scope.",
    },
    security: [{ managementCredential: [] }],
    paths,
    components: {
      securitySchemes: {
        managementCredential: {
          type: "http",
          scheme: "bearer",
          description: "ADMIN_TOKEN, or a management key (gwm_…) holding the route's scope",
        },
      },
    },
  });
}
