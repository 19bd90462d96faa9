import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "@gateway/testing";
import { envoyCheckRequest, metadataOf } from "../api-key-service/test/envoy.js";
import { ADMIN_TOKEN, type Api, startApi } from "../api-key-service/test/fixtures.js";
import { createBackend } from "../backend-service/src/main.js";
import { envoyAlsStream, httpEntry } from "../billing-sidecar/test/envoy-als.js";
import { startSidecar } from "../billing-sidecar/test/fixtures.js";

const script = fileURLToPath(new URL("../test-api.sh", import.meta.url));

interface ScriptRun {
  code: number | null;
  output: string;
  lines: (prefix: "PASS" | "FAIL") => string[];
}

function runTestApi(env: Record<string, string>): Promise<ScriptRun> {
  const child = spawn("bash", [script], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  return new Promise((resolve) =>
    child.on("exit", (code) =>
      resolve({
        code,
        output,
        lines: (prefix) => output.split("\n").filter((l) => l.startsWith(`${prefix}  `)),
      }),
    ),
  );
}

describe("test-api.sh with SKIP_GATEWAY=1, against a real api-key-service", () => {
  test("passes every management step and exits 0", async ({ services }) => {
    const api = await startApi(services);
    try {
      const run = await runTestApi({ API_URL: api.baseUrl, ADMIN_TOKEN, SKIP_GATEWAY: "1" });
      expect(run.code, run.output).toBe(0);
      expect(run.lines("FAIL")).toEqual([]);
      expect(run.lines("PASS").map((l) => l.replace(/key_[A-Za-z0-9]{22}/g, "key_…"))).toEqual([
        "PASS  management API is up (GET /health)",
        "PASS  create a key (POST /api/keys): key_…",
        expect.stringMatching(/^PASS {2}list the user's keys \(GET \/api\/keys\/test-api-/),
        "PASS  rotate the key (POST /api/keys/by-id/key_…/rotate): new secret, same id",
        "PASS  revoke the key (DELETE /api/keys/key_…)",
        "PASS  audit log has the key's creation, rotation and revocation (GET /api/audit?key_id=…)",
      ]);
      expect(run.output).toContain("6 passed, 0 failed");
      // The script's key really went through the service.
      const [row] = await api.query("select count(*)::int as n from api_keys where revoked_at is not null");
      expect(row.n).toBe(1);
    } finally {
      await api.stop();
    }
  });

  test("with a wrong ADMIN_TOKEN prints FAIL and exits non-zero", async ({ services }) => {
    const api = await startApi(services);
    try {
      const run = await runTestApi({
        API_URL: api.baseUrl,
        ADMIN_TOKEN: "wrong-token-wrong-token-wrong-token-0000",
        SKIP_GATEWAY: "1",
      });
      expect(run.code).toBe(1);
      expect(run.lines("FAIL")).toEqual([expect.stringMatching(/^FAIL {2}create a key .*HTTP 401/)]);
      expect(run.output).toContain("1 passed, 1 failed");
      expect(run.output).not.toContain("wrong-token");
    } finally {
      await api.stop();
    }
  });

  test("with the gateway unreachable, every gateway step FAILs and the rest still run", async ({
    services,
  }) => {
    const api = await startApi(services);
    try {
      const run = await runTestApi({
        API_URL: api.baseUrl,
        GATEWAY_URL: "http://127.0.0.1:1",
        ADMIN_TOKEN,
        USAGE_TIMEOUT: "1",
      });
      expect(run.code).toBe(1);
      expect(run.lines("FAIL")).toHaveLength(8);
      for (const line of run.lines("FAIL")) expect(line).toMatch(/no answer|HTTP 200/);
      // The management steps after them ran and passed.
      expect(run.lines("PASS").join("\n")).toMatch(/rotate the key[\s\S]*revoke the key[\s\S]*audit log/);
      expect(run.output).toContain("6 passed, 8 failed");
    } finally {
      await api.stop();
    }
  });

  test("without ADMIN_TOKEN refuses to run (exit 2), naming the variable", async () => {
    const run = await runTestApi({ SKIP_GATEWAY: "1" });
    expect(run.code).toBe(2);
    expect(run.output).toContain("ADMIN_TOKEN is required");
  });
});

// --- the whole script, with Envoy played at the protocol level -----------------------------------

type CheckResponse = Awaited<ReturnType<Api["check"]>>;
type Header = { header?: { key?: string; value?: string } | null };

const HTTP_STATUS: Record<string, number> = {
  Unauthorized: 401,
  Forbidden: 403,
  TooManyRequests: 429,
  ServiceUnavailable: 503,
};
const HOP_BY_HOP = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive"]);

/**
 * What the shipped envoy.yaml does, reduced to its two gRPC calls: ext_authz Check on every request
 * (with required_scopes "admin" on /admin), the allowed request forwarded to the backend with the
 * headers Check set and removed, and one access-log entry per request carrying Check's metadata.
 * `enforce: false` forwards everything unchecked: a gateway misconfigured to let all through.
 */
async function startGatewayStandIn(options: {
  check: Api["check"];
  backendUrl: string;
  alsPort: number;
  enforce: boolean;
  /** Serve https with this certificate and key, as Envoy's TLS listener does. */
  tls?: { cert: Buffer; key: Buffer };
}) {
  const als = envoyAlsStream(options.alsPort);
  const setHeaders = (res: ServerResponse, headers: Header[] | undefined) => {
    for (const h of headers ?? []) if (h.header?.key) res.setHeader(h.header.key, h.header.value ?? "");
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const path = req.url ?? "/";
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers))
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(",") : value;
    const scoped = path.split("?")[0] === "/admin";
    let check: CheckResponse | undefined;
    if (options.enforce) {
      check = await options.check(
        envoyCheckRequest({ headers, path, contextExtensions: scoped ? { required_scopes: "admin" } : {} }),
      );
    }
    const meta = check ? metadataOf(check) : {};
    if (check && check.status?.code !== 0) {
      const denied = check.denied_response;
      const status = HTTP_STATUS[String(denied?.status?.code)] ?? 403;
      setHeaders(res, denied?.headers);
      res.writeHead(status).end(denied?.body ?? "");
      als.send([
        httpEntry({ keyId: meta.api_key_id, userId: meta.user_id, code: status, denied: "denied", path }),
      ]);
      return;
    }
    const upstream: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) upstream[name] = value;
    for (const name of check?.ok_response?.headers_to_remove ?? []) delete upstream[name];
    for (const h of check?.ok_response?.headers ?? [])
      if (h.header?.key) upstream[h.header.key] = h.header.value ?? "";
    const answer = await fetch(options.backendUrl + path, { method: req.method ?? "GET", headers: upstream });
    const body = Buffer.from(await answer.arrayBuffer());
    res.setHeader("content-type", answer.headers.get("content-type") ?? "application/octet-stream");
    setHeaders(res, check?.ok_response?.response_headers_to_add);
    res.writeHead(answer.status).end(body);
    als.send([httpEntry({ keyId: meta.api_key_id, userId: meta.user_id, code: answer.status, path })]);
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => res.writeHead(500).end(String(err)));
  };
  const server = options.tls ? createTlsServer(options.tls, listener) : createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    // By name over TLS: the certificate names localhost.
    url: options.tls ? `https://localhost:${port}` : `http://127.0.0.1:${port}`,
    async close() {
      als.cancel();
      als.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function withStack(
  services: Parameters<typeof startApi>[0],
  enforce: boolean,
  body: (urls: { api: string; gateway: string }) => Promise<void>,
  tls?: { cert: Buffer; key: Buffer },
) {
  const api = await startApi(services);
  const sidecar = await startSidecar(services);
  const backend = createBackend({ PORT: 0, HOST: "127.0.0.1" }, { log: () => {} });
  const { port } = await backend.start();
  const gateway = await startGatewayStandIn({
    check: api.check,
    backendUrl: `http://127.0.0.1:${port}`,
    alsPort: sidecar.alsPort,
    enforce,
    ...(tls ? { tls } : {}),
  });
  try {
    await body({ api: api.baseUrl, gateway: gateway.url });
  } finally {
    await gateway.close();
    await backend.stop();
    await sidecar.close();
    await api.stop();
  }
}

describe("test-api.sh through a gateway (Envoy played by its ext_authz and access-log calls)", () => {
  test("passes every step, usage included, and exits 0", async ({ services }) => {
    await withStack(services, true, async (urls) => {
      const run = await runTestApi({ API_URL: urls.api, GATEWAY_URL: urls.gateway, ADMIN_TOKEN });
      expect(run.code, run.output).toBe(0);
      expect(run.lines("FAIL")).toEqual([]);
      const passed = run.lines("PASS").join("\n");
      for (const step of [
        /200 through the gateway with the key; the backend saw x-api-key-id key_\w+/,
        /401 without a key/,
        /401 with a wrong key/,
        /403 on \/admin/,
        /429 past 5 requests a minute, with Retry-After: \d+/,
        /the new secret is accepted \(HTTP 429\), the old one refused \(401\)/,
        /401 within a second of revoking/,
        /usage shows [1-9]\d* request\(s\) from the access log/,
      ])
        expect(passed).toMatch(step);
      expect(run.output).toContain("14 passed, 0 failed");
    });
  }, 60_000);

  test("against a gateway that checks nothing, the gateway steps FAIL and the exit is non-zero", async ({
    services,
  }) => {
    await withStack(services, false, async (urls) => {
      const run = await runTestApi({
        API_URL: urls.api,
        GATEWAY_URL: urls.gateway,
        ADMIN_TOKEN,
        USAGE_TIMEOUT: "2",
      });
      expect(run.code).toBe(1);
      const failed = run.lines("FAIL").join("\n");
      for (const step of [/401 without a key/, /401 with a wrong key/, /403 on \/admin/, /429/, /usage/])
        expect(failed).toMatch(step);
    });
  }, 60_000);
});

describe("test-api.sh against an https gateway (Envoy's TLS listener, a scripts/dev-cert.sh certificate)", () => {
  const certDir = mkdtempSync(join(tmpdir(), "test-api-tls-"));
  const made = spawnSync("bash", [
    fileURLToPath(new URL("../scripts/dev-cert.sh", import.meta.url)),
    certDir,
  ]);
  if (made.status !== 0) throw new Error(`dev-cert.sh failed: ${made.stderr}`);
  const tls = { cert: readFileSync(join(certDir, "tls.crt")), key: readFileSync(join(certDir, "tls.key")) };

  test("passes with CA_CERT, refuses the untrusted certificate without it, passes with INSECURE_TLS=1", async ({
    services,
  }) => {
    await withStack(
      services,
      true,
      async (urls) => {
        const env = { API_URL: urls.api, GATEWAY_URL: urls.gateway, ADMIN_TOKEN };
        const trusted = await runTestApi({ ...env, CA_CERT: join(certDir, "tls.crt") });
        expect(trusted.code, trusted.output).toBe(0);
        expect(trusted.output).toContain("14 passed, 0 failed");

        const untrusted = await runTestApi({ ...env, USAGE_TIMEOUT: "1" });
        expect(untrusted.code).toBe(1);
        expect(untrusted.lines("FAIL")).toHaveLength(8);
        expect(untrusted.lines("FAIL")[0]).toMatch(/no answer: .*certificate/);

        const insecure = await runTestApi({ ...env, INSECURE_TLS: "1" });
        expect(insecure.code, insecure.output).toBe(0);
      },
      tls,
    );
  }, 90_000);

  test("a CA_CERT that is not a readable file stops the script before any request", async () => {
    const run = await runTestApi({ ADMIN_TOKEN, CA_CERT: join(certDir, "missing.crt") });
    expect(run.code).toBe(2);
    expect(run.output).toContain("CA_CERT=");
    expect(run.lines("PASS")).toEqual([]);
  });
});
