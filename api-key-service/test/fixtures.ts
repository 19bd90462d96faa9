import { Writable } from "node:stream";
import { createLogger } from "@gateway/common";
import type { CheckRequest, CheckResponse__Output } from "@gateway/proto";
import { type TestServices, test as withServices } from "@gateway/testing";
import pg from "pg";
import { loadConfig } from "../src/config.js";
import { createService } from "../src/main.js";
import { authzClient } from "./envoy.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdef0123456789";

export interface ApiResponse {
  status: number;
  headers: Headers;
  body: any;
  text: string;
}

export interface RequestOptions {
  body?: unknown;
  /** Raw body text, sent as is (with `contentType`, default application/json). */
  raw?: string | Buffer;
  contentType?: string;
  /** null sends no Authorization header; default the admin token. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface Api {
  baseUrl: string;
  grpcPort: number;
  /** The forward-auth endpoint's base URL: `http://127.0.0.1:<AUTH_HTTP_PORT>`. */
  forwardAuthUrl: string;
  /** Sends a CheckRequest to this instance over gRPC, as Envoy does. */
  check(request: CheckRequest, deadlineMs?: number): Promise<CheckResponse__Output>;
  /** The service's Prometheus metrics text. */
  metricsText(): Promise<string>;
  databaseUrl: string;
  /** Every log line the service wrote, as text. */
  logs: string[];
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  /** Creates a key and returns the response body (with the secret in `key`). */
  createKey(body?: Record<string, unknown>): Promise<any>;
  /** Creates a management key with the admin token; the body has the secret in `key`. */
  createManagementKey(body?: Record<string, unknown>): Promise<any>;
  /** Row counts of the tables a change writes to, read straight from Postgres. */
  rowCounts(): Promise<Record<string, number>>;
  /** Runs SQL against the test's database, outside the service. */
  query(text: string, values?: unknown[]): Promise<any[]>;
}

export interface RunningApi extends Api {
  stop(): Promise<void>;
}

/**
 * Starts an api-key-service on free ports against the given services; `env` overrides its
 * configuration. Two instances started with the same services share the database and Redis prefix,
 * as replicas do.
 */
export async function startApi(
  services: TestServices,
  env: Record<string, string> = {},
): Promise<RunningApi> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    DATABASE_URL: services.databaseUrl,
    REDIS_URL: services.redisUrl,
    ADMIN_TOKEN,
    HTTP_PORT: "0",
    HOST: "127.0.0.1",
    LOG_LEVEL: "info",
    REDIS_KEY_PREFIX: services.redisPrefix,
    GRPC_PORT: "0",
    AUTH_HTTP_PORT: "0",
    // A loaded test machine can be slower than production's 50 ms budget; a timeout here would
    // switch to the local fallback limiter and blur what a test asserts. Fault tests set it back.
    REDIS_TIMEOUT: "1s",
    KEY_LOOKUP_TIMEOUT: "2s",
    // Shared security matrices send a wrong admin token to every route from one address; the
    // failure limit has its own tests (admin-auth.test.ts), which set it low.
    ADMIN_AUTH_MAX_FAILURES: "100",
    ...env,
  });
  const service = createService(config, {
    logger: createLogger({ service: "api-key-service", level: config.LOG_LEVEL, destination }),
  });
  const { httpPort, grpcPort, authHttpPort } = await service.start();
  const client = authzClient(grpcPort, env.INTERNAL_TOKEN);
  const baseUrl = `http://127.0.0.1:${httpPort}`;

  const request = async (
    method: string,
    path: string,
    options: RequestOptions = {},
  ): Promise<ApiResponse> => {
    const headers: Record<string, string> = { ...options.headers };
    const token = options.token === undefined ? ADMIN_TOKEN : options.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | Buffer | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
    const res = await fetch(baseUrl + path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    if ((res.headers.get("content-type") ?? "").includes("json") && text) parsed = JSON.parse(text);
    return { status: res.status, headers: res.headers, body: parsed, text };
  };

  const createKey = async (body: Record<string, unknown> = {}) => {
    const res = await request("POST", "/api/keys", {
      body: { user_id: "user_1", name: "test key", ...body },
    });
    if (res.status !== 201) throw new Error(`createKey: ${res.status} ${res.text}`);
    return res.body;
  };

  const createManagementKey = async (body: Record<string, unknown> = {}) => {
    const res = await request("POST", "/api/management-keys", {
      body: { name: "test management key", scopes: ["admin"], ...body },
    });
    if (res.status !== 201) throw new Error(`createManagementKey: ${res.status} ${res.text}`);
    return res.body;
  };

  const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 2 });
  // The test database is dropped with FORCE afterwards; a connection still closing must not crash the run.
  pool.on("error", () => {});
  const query = async (text: string, values: unknown[] = []) => (await pool.query(text, values)).rows;
  const rowCounts = async () => {
    const [row] = await query(
      `select (select count(*) from api_keys)::int as api_keys, (select count(*) from users)::int as users,
                (select count(*) from audit_events)::int as audit_events,
                (select count(*) from management_keys)::int as management_keys,
                (select count(*) from webhooks)::int as webhooks`,
    );
    return row;
  };

  const metricsText = async () => (await request("GET", "/metrics", { token: null })).text;
  return {
    baseUrl,
    grpcPort,
    forwardAuthUrl: `http://127.0.0.1:${authHttpPort}`,
    check: client.check,
    metricsText,
    databaseUrl: services.databaseUrl,
    logs,
    request,
    createKey,
    createManagementKey,
    rowCounts,
    query,
    async stop() {
      client.close();
      await service.stop();
      await pool.end();
    },
  };
}

/** GRPC_SERVER: the gRPC servers Check is answered by; tests that matter run against both. */
export type GrpcServerKind = "h2" | "grpc-js";
export const GRPC_SERVERS: GrpcServerKind[] = ["h2", "grpc-js"];

/**
 * A running api-key-service on free ports, with its own database and Redis prefix. `grpcServer`
 * picks GRPC_SERVER (h2 unless a suite sets `test.override({ grpcServer })`).
 */
export const test = withServices.extend<{ grpcServer: GrpcServerKind; api: Api }>({
  grpcServer: "h2",
  api: async ({ services, grpcServer }, use) => {
    const api = await startApi(services, { GRPC_SERVER: grpcServer });
    try {
      await use(api);
    } finally {
      await api.stop();
    }
  },
});

export { describe, expect } from "@gateway/testing";

/** Sum of a counter's samples in Prometheus text, optionally only those with a label text. */
export function counterTotal(metrics: string, name: string, label = ""): number {
  return metrics
    .split("\n")
    .filter((line) => line.startsWith(name) && line.includes(label))
    .reduce((sum, line) => sum + Number(line.split(" ").at(-1)), 0);
}
