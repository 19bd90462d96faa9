import { z } from "zod";
import { createKeyBody, rotateKeyBody, updateKeyBody, userBillingBody } from "./schemas.js";

const jsonSchema = (schema: z.ZodType) => z.toJSONSchema(schema, { io: "input", unrepresentable: "any" });
const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: object) => ({ "application/json": { schema } });
const ok = (description: string, schema: object) => ({ description, content: json(schema) });
const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ref("Problem") } },
});

const errors = {
  "400": problem("Invalid input; `errors` names each offending field"),
  "401": problem("Missing or invalid admin token"),
  "415": problem("The body is not JSON"),
  "413": problem("The body is larger than 1 MB"),
  "429": {
    ...problem(
      "Too many failed admin authentications from this client address (ADMIN_AUTH_MAX_FAILURES per ADMIN_AUTH_FAILURE_WINDOW); refused before the token is compared, the right token included",
    ),
    headers: {
      "Retry-After": {
        description: "Seconds until the address's oldest failure leaves the window",
        schema: { type: "integer", minimum: 1 },
      },
    },
  },
};
const notFound = { "404": problem("No such key (or not this user's key)") };
const keyIdParam = {
  name: "id",
  in: "path",
  required: true,
  schema: { type: "string", pattern: "^key_[0-9A-Za-z]{22}$" },
};
const userIdParam = { name: "user_id", in: "path", required: true, schema: { type: "string" } };
const ownerParam = {
  name: "user_id",
  in: "query",
  required: false,
  description: "When given, act only if the key belongs to this user (404 otherwise).",
  schema: { type: "string" },
};
const pageParams = [
  { name: "limit", in: "query", schema: { type: "integer", minimum: 1, maximum: 100, default: 20 } },
  {
    name: "cursor",
    in: "query",
    schema: { type: "string" },
    description: "`next_cursor` of the previous page",
  },
];
const page = (item: string) => ({
  type: "object",
  required: ["data", "next_cursor"],
  properties: { data: { type: "array", items: ref(item) }, next_cursor: { type: ["string", "null"] } },
});
const timestamp = { type: ["string", "null"], format: "date-time" };

/** The OpenAPI 3.1 description of the management API, served at /api/openapi.json. */
export function openApiDocument() {
  return {
    openapi: "3.1.0",
    info: {
      title: "API-key gateway management API",
      version: "1.0.0",
      description: "Create, list, update, rotate and revoke API keys; set billing; read the audit log.",
    },
    security: [{ adminToken: [] }],
    paths: {
      "/api/keys": {
        post: {
          summary: "Create a key. The secret is in `key` and is shown this once.",
          requestBody: { required: true, content: json(jsonSchema(createKeyBody)) },
          responses: { "201": ok("The key, with its secret", ref("KeyWithSecret")), ...errors },
        },
      },
      "/api/keys/{user_id}": {
        get: {
          summary: "List a user's keys, newest first",
          parameters: [userIdParam, ...pageParams],
          responses: { "200": ok("A page of keys", page("Key")), ...errors },
        },
      },
      "/api/keys/{id}": {
        delete: {
          summary: "Revoke a key (idempotent)",
          parameters: [keyIdParam, ownerParam],
          responses: { "200": ok("The revoked key", ref("Key")), ...errors, ...notFound },
        },
      },
      "/api/keys/by-id/{id}": {
        get: {
          summary: "Get one key",
          parameters: [keyIdParam, ownerParam],
          responses: { "200": ok("The key", ref("Key")), ...errors, ...notFound },
        },
        patch: {
          summary: "Update name, limits, scopes, metadata, expiry, billing or enabled",
          parameters: [keyIdParam, ownerParam],
          requestBody: { required: true, content: json(jsonSchema(updateKeyBody)) },
          responses: {
            "200": ok("The updated key", ref("Key")),
            ...errors,
            ...notFound,
            "409": problem("The key is revoked"),
          },
        },
      },
      "/api/keys/by-id/{id}/rotate": {
        post: {
          summary: "Issue a new secret; the old one keeps working for the grace period",
          parameters: [keyIdParam, ownerParam],
          requestBody: { required: false, content: json(jsonSchema(rotateKeyBody)) },
          responses: {
            "200": ok("The key, with its new secret", ref("KeyWithSecret")),
            ...errors,
            ...notFound,
            "409": problem("The key is revoked"),
          },
        },
      },
      "/api/users/{user_id}": {
        put: {
          summary: "Set the Stripe customer this user's keys bill to",
          parameters: [userIdParam],
          requestBody: { required: true, content: json(jsonSchema(userBillingBody)) },
          responses: { "200": ok("The user", ref("User")), ...errors },
        },
      },
      "/api/audit": {
        get: {
          summary: "Read the audit log, newest first",
          parameters: [
            { name: "key_id", in: "query", schema: { type: "string" } },
            { name: "user_id", in: "query", schema: { type: "string" } },
            { name: "action", in: "query", schema: { type: "string" } },
            ...pageParams,
          ],
          responses: { "200": ok("A page of audit events", page("AuditEvent")), ...errors },
        },
      },
      "/api/usage": {
        get: {
          summary:
            "Usage per key and window: allowed and denied checks, requests the access log delivered, the gap between them, and what was sent to Stripe per customer and day",
          parameters: [
            {
              name: "user_id",
              in: "query",
              schema: { type: "string" },
              description: "this user's keys (or key_id)",
            },
            { name: "key_id", in: "query", schema: { type: "string" } },
            {
              name: "from",
              in: "query",
              schema: { type: "string", format: "date-time" },
              description: "default: to − 24 h",
            },
            {
              name: "to",
              in: "query",
              schema: { type: "string", format: "date-time" },
              description: "default: now",
            },
            {
              name: "granularity",
              in: "query",
              schema: { enum: ["minute", "hour", "day"], default: "hour" },
            },
            {
              name: "format",
              in: "query",
              schema: { enum: ["json", "csv"] },
              description: "or Accept: text/csv",
            },
          ],
          responses: {
            "200": {
              description: "The usage report",
              content: {
                "application/json": { schema: { type: "object" } },
                "text/csv": { schema: { type: "string" } },
              },
            },
            ...errors,
          },
        },
      },
      "/api/openapi.json": {
        get: {
          summary: "This document",
          responses: { "200": ok("OpenAPI 3.1", { type: "object" }), ...errors },
        },
      },
      "/health": {
        get: {
          security: [],
          summary: "The process is up",
          responses: { "200": ok("Up", { type: "object" }) },
        },
      },
      "/ready": {
        get: {
          security: [],
          summary: "Postgres and Redis are reachable",
          responses: { "200": ok("Ready", { type: "object" }), "503": ok("Not ready", { type: "object" }) },
        },
      },
      "/metrics": {
        get: {
          security: [],
          summary: "Prometheus metrics",
          responses: { "200": { description: "Text exposition format", content: { "text/plain": {} } } },
        },
      },
    },
    components: {
      securitySchemes: { adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN" } },
      schemas: {
        Key: {
          type: "object",
          properties: {
            id: { type: "string" },
            user_id: { type: "string" },
            name: { type: "string" },
            start: { type: "string", description: "The first characters of the secret, to tell keys apart" },
            status: { enum: ["active", "disabled", "expired", "revoked"] },
            enabled: { type: "boolean" },
            scopes: { type: "array", items: { type: "string" } },
            rate_limit_per_minute: { type: ["integer", "null"], description: "null: the configured default" },
            rate_limit_per_day: { type: ["integer", "null"], description: "null: the configured default" },
            metadata: { type: "object" },
            stripe_customer_id: { type: ["string", "null"], description: "Overrides the user's customer" },
            expires_at: timestamp,
            revoked_at: timestamp,
            rotated_at: timestamp,
            previous_key_expires_at: { ...timestamp, description: "End of the old secret's grace period" },
            created_at: { type: "string", format: "date-time" },
            updated_at: { type: "string", format: "date-time" },
            last_used_at: timestamp,
          },
        },
        KeyWithSecret: {
          allOf: [ref("Key"), { type: "object", required: ["key"], properties: { key: { type: "string" } } }],
        },
        User: {
          type: "object",
          properties: {
            user_id: { type: "string" },
            stripe_customer_id: { type: ["string", "null"] },
            created_at: { type: "string", format: "date-time" },
            updated_at: { type: "string", format: "date-time" },
          },
        },
        AuditEvent: {
          type: "object",
          properties: {
            id: { type: "string" },
            occurred_at: { type: "string", format: "date-time" },
            action: { type: "string" },
            key_id: { type: ["string", "null"] },
            user_id: { type: ["string", "null"] },
            request_id: { type: ["string", "null"] },
            client_ip: { type: ["string", "null"] },
            changes: { type: "object" },
          },
        },
        Problem: {
          type: "object",
          description: "RFC 9457 problem details",
          properties: {
            type: { type: "string" },
            title: { type: "string" },
            status: { type: "integer" },
            detail: { type: "string" },
            instance: { type: "string" },
            request_id: { type: "string" },
            code: { type: "string" },
            errors: {
              type: "array",
              items: {
                type: "object",
                properties: { field: { type: "string" }, message: { type: "string" } },
              },
            },
          },
        },
      },
    },
  };
}
