import { Agent, get } from "node:http";
import { loadConfig } from "../src/config.js";
import { DECISION_CASES, onPlan } from "./decision-cases.js";
import { HTTP_STATUS_NAME } from "./decision-transports.js";
import { bearer, envoyCheckRequest, headerMap } from "./envoy.js";
import { ADMIN_TOKEN, type Api, counterTotal, describe, expect, startApi, test } from "./fixtures.js";
import { bearerHeader, type ForwardAuthAnswer, forwardAuth } from "./forward-auth-client.js";

/** Headers every HTTP answer has, whatever the decision: not part of what is compared with Check. */
const TRANSPORT_HEADERS = new Set(["content-length", "date", "connection", "keep-alive"]);
const answerHeaderNames = (answer: ForwardAuthAnswer) =>
  Object.keys(answer.headers)
    .filter((name) => !TRANSPORT_HEADERS.has(name))
    .sort();

function ask(api: Api, secret: string, scopes: string[] = [], extra: [string, string][] = []) {
  const headers: [string, string][] = [bearerHeader(secret), ...extra];
  if (scopes.length > 0) headers.push(["X-Required-Scopes", scopes.join(" ")]);
  return forwardAuth(api.forwardAuthUrl, { headers });
}

describe("forward-auth and Check decide alike", () => {
  for (const c of DECISION_CASES) {
    test(c.name, async ({ api }) => {
      const { secret, scopes = [] } = await c.setup(api);
      const check = await api.check(
        envoyCheckRequest({
          headers: bearer(secret),
          contextExtensions: { required_scopes: scopes.join(",") },
        }),
      );
      const answer = await ask(api, secret, scopes);
      expect(answer.status).toBe(c.status);
      if (c.check === "") {
        expect(check.status?.code).toBe(0);
        const allowed = headerMap(check.ok_response?.headers);
        expect(answer.headers["x-api-key-id"]).toBe(allowed["x-api-key-id"]);
        expect(answer.headers["x-user-id"]).toBe(allowed["x-user-id"]);
        // The same rate-limit headers as Check's response_headers_to_add, and nothing else.
        const rateNames = Object.keys(headerMap(check.ok_response?.response_headers_to_add));
        expect(answerHeaderNames(answer)).toEqual([...rateNames, "x-api-key-id", "x-user-id"].sort());
        expect(answer.text).toBe("");
        return;
      }
      const denied = check.denied_response;
      expect(JSON.parse(denied?.body ?? "{}").error.code).toBe(c.check);
      expect(HTTP_STATUS_NAME[String(denied?.status?.code)]).toBe(c.status);
      expect(answer.body).toEqual({ error: { code: c.check, message: expect.any(String) } });
      expect(answer.body).toEqual(JSON.parse(denied?.body ?? "{}"));
      const checkHeaders = headerMap(denied?.headers);
      // Check's headers, and the body's code as X-Denial-Code for gateways that never read the body.
      expect(answerHeaderNames(answer)).toEqual([...Object.keys(checkHeaders), "x-denial-code"].sort());
      expect(answer.headers["x-denial-code"]).toBe(c.check);
      expect(answer.headers["www-authenticate"]).toBe(checkHeaders["www-authenticate"]);
      expect(answer.headers["content-type"]).toBe("application/json");
    });
  }
});

describe("allowed", () => {
  test("200 with the key's identity, its limits and, on a plan with a quota, the quota", async ({ api }) => {
    await onPlan(api, "acme", { id: "pro", monthly_quota: 1_000 });
    const key = await api.createKey({ user_id: "acme", rate_limit_per_minute: 10 });
    const answer = await ask(api, key.key);
    expect(answer.status).toBe(200);
    expect(answer.headers).toMatchObject({
      "x-api-key-id": key.id,
      "x-user-id": "acme",
      "x-ratelimit-limit": "10",
      "x-ratelimit-remaining": "9",
      "x-quota-limit": "1000",
      "x-quota-remaining": "999",
    });
    expect(answer.headers.ratelimit).toMatch(/^"minute";r=9;t=\d+, "day";r=\d+;t=\d+, "month";r=999;t=\d+$/);
  });

  test("the key may come as X-Api-Key, and Bearer in any case", async ({ api }) => {
    const key = await api.createKey();
    for (const header of [
      ["X-Api-Key", key.key],
      ["x-api-key", ` ${key.key} `],
      ["authorization", `bearer ${key.key}`],
      ["AUTHORIZATION", `BEARER   ${key.key}`],
    ] as [string, string][]) {
      const answer = await forwardAuth(api.forwardAuthUrl, { headers: [header] });
      expect(answer.status, header[0]).toBe(200);
      expect(answer.headers["x-api-key-id"]).toBe(key.id);
    }
  });

  test("any method and any path below /v1/forward-auth is decided; other paths are 404", async ({ api }) => {
    const key = await api.createKey();
    for (const [method, path] of [
      ["GET", "/v1/forward-auth"],
      ["POST", "/v1/forward-auth?x=1"],
      ["DELETE", "/v1/forward-auth/v1/things/42?page=2"],
      ["PATCH", "/v1/forward-auth/"],
      ["HEAD", "/v1/forward-auth/a"],
      ["OPTIONS", "/v1/forward-auth"],
      ["PROPFIND", "/v1/forward-auth/x"],
    ]) {
      const answer = await forwardAuth(api.forwardAuthUrl, {
        method,
        path,
        headers: [bearerHeader(key.key)],
      });
      expect(answer.status, `${method} ${path}`).toBe(200);
    }
    for (const path of ["/", "/v1/forward-authx", "/v1/forward", "/health", "/v1/keys/verify"]) {
      const answer = await forwardAuth(api.forwardAuthUrl, { path, headers: [bearerHeader(key.key)] });
      expect(answer.status, path).toBe(404);
      expect(answer.body.error.code).toBe("not_found");
    }
    // The 404s counted nothing: the key has used 7 of its 100.
    expect((await ask(api, key.key)).headers["x-ratelimit-remaining"]).toBe("92");
  });

  test("a request body (Envoy's with_request_body) is ignored and the connection stays usable", async ({
    api,
  }) => {
    const key = await api.createKey();
    const answer = await forwardAuth(api.forwardAuthUrl, {
      method: "POST",
      headers: [bearerHeader(key.key)],
      body: Buffer.alloc(256 * 1024, 7),
    });
    expect(answer.status).toBe(200);
  });
});

describe("denied", () => {
  test("401: no key gets the bare challenge; a malformed or unknown key gets invalid_token", async ({
    api,
  }) => {
    const none = await forwardAuth(api.forwardAuthUrl, { headers: [["Accept", "*/*"]] });
    expect(none.status).toBe(401);
    expect(none.headers["www-authenticate"]).toBe('Bearer realm="api"');
    expect(none.body.error.code).toBe("missing");
    for (const [header, code] of [
      [["Authorization", "Bearer"], "malformed"],
      [["Authorization", "Basic dXNlcjpwYXNz"], "missing"],
      [["X-Api-Key", "   "], "malformed"],
      [["X-Api-Key", "gw_short"], "malformed"],
      [["Authorization", "Bearer gw_0000000000000000000000000000000000000000"], "malformed"],
    ] as [[string, string], string][]) {
      const answer = await forwardAuth(api.forwardAuthUrl, { headers: [header] });
      expect(answer.status, header.join(": ")).toBe(401);
      expect(answer.body.error.code, header.join(": ")).toBe(code);
      expect(answer.headers["www-authenticate"]).toBe(
        code === "missing" ? 'Bearer realm="api"' : 'Bearer realm="api", error="invalid_token"',
      );
    }
  });

  test("a second key in a repeated header is never let through", async ({ api }) => {
    const [a, b] = [await api.createKey(), await api.createKey()];
    for (const headers of [
      [bearerHeader(a.key), bearerHeader(b.key)],
      [bearerHeader(a.key), bearerHeader(a.key)],
      [
        ["X-Api-Key", a.key],
        ["X-Api-Key", b.key],
      ],
    ] as [string, string][][]) {
      const answer = await forwardAuth(api.forwardAuthUrl, { headers });
      expect(answer.status).toBe(401);
      expect(answer.body.error.code).toBe("malformed");
    }
  });

  test("403 names the missing scope; X-Required-Scopes takes commas or spaces", async ({ api }) => {
    const key = await api.createKey({ scopes: ["read", "write"] });
    expect((await ask(api, key.key, [], [["X-Required-Scopes", "read, write"]])).status).toBe(200);
    expect((await ask(api, key.key, [], [["X-Required-Scopes", "read write"]])).status).toBe(200);
    const answer = await ask(api, key.key, [], [["X-Required-Scopes", "read,admin billing"]]);
    expect(answer.status).toBe(403);
    expect(answer.body.error).toEqual({
      code: "missing_scope",
      message: "the API key lacks the scope admin, billing",
    });
    expect(answer.headers["www-authenticate"]).toBeUndefined();
  });

  test("429 over the limit, with Retry-After and the limits", async ({ api }) => {
    const key = await api.createKey({ rate_limit_per_minute: 2 });
    expect((await ask(api, key.key)).status).toBe(200);
    expect((await ask(api, key.key)).status).toBe(200);
    const answer = await ask(api, key.key);
    expect(answer.status).toBe(429);
    expect(answer.body.error.code).toBe("rate_limited");
    expect(Number(answer.headers["retry-after"])).toBeGreaterThanOrEqual(1);
    expect(Number(answer.headers["retry-after"])).toBeLessThanOrEqual(61);
    expect(answer.headers["x-ratelimit-remaining"]).toBe("0");
  });

  test("429 quota_exceeded with Retry-After to the end of the billing period", async ({ api }) => {
    await onPlan(api, "acme", { id: "tiny", monthly_quota: 3, overage: "block" });
    const key = await api.createKey({ user_id: "acme" });
    expect((await ask(api, key.key, [], [["X-Request-Cost", "3"]])).status).toBe(200);
    const answer = await ask(api, key.key);
    expect(answer.status).toBe(429);
    expect(answer.body.error.code).toBe("quota_exceeded");
    expect(answer.headers["x-quota-remaining"]).toBe("0");
    const now = new Date();
    const periodEnd = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    expect(Math.abs(Number(answer.headers["retry-after"]) - (periodEnd - now.getTime()) / 1000)).toBeLessThan(
      5,
    );
  });
});

describe("X-Request-Cost", () => {
  test("counts the request as that many units", async ({ api }) => {
    const key = await api.createKey({ rate_limit_per_minute: 10 });
    const first = await ask(api, key.key, [], [["X-Request-Cost", "4"]]);
    expect(first.headers["x-ratelimit-remaining"]).toBe("6");
    const over = await ask(api, key.key, [], [["X-Request-Cost", "7"]]);
    expect(over.status).toBe(429);
    expect((await ask(api, key.key, [], [["X-Request-Cost", "6"]])).headers["x-ratelimit-remaining"]).toBe(
      "0",
    );
  });

  test("a value that is not a whole number 1–1,000,000 is the route's misconfiguration: 500, nothing counted", async ({
    api,
  }) => {
    const key = await api.createKey({ rate_limit_per_minute: 10 });
    for (const cost of ["0", "-1", "1.5", "1e3", "abc", "", "1000001", "99999999", "2,3"]) {
      const answer = await ask(api, key.key, [], [["X-Request-Cost", cost]]);
      expect(answer.status, JSON.stringify(cost)).toBe(500);
      expect(answer.body.error.code).toBe("misconfigured");
      // The same as Check answers for that route setting.
      const check = await api.check(
        envoyCheckRequest({ headers: bearer(key.key), contextExtensions: { cost } }),
      );
      expect(JSON.parse(check.denied_response?.body ?? "{}").error.code).toBe("misconfigured");
    }
    expect((await ask(api, key.key)).headers["x-ratelimit-remaining"]).toBe("9");
    expect(api.logs.join("\n")).toContain("route misconfigured: context_extensions.cost (X-Request-Cost");
  });
});

describe("the original request", () => {
  test("is read from X-Forwarded-*, X-Original-* or the request line, and logged with a denial", async ({
    services,
  }) => {
    const api = await startApi(services, { LOG_LEVEL: "debug" });
    try {
      const forms: [
        string,
        { method?: string; path?: string; headers: [string, string][] },
        string,
        string,
      ][] = [
        [
          "Caddy, Traefik",
          {
            headers: [
              ["X-Forwarded-Method", "PUT"],
              ["X-Forwarded-Uri", "/caddy/items?key=secret"],
            ],
          },
          "PUT",
          "/caddy/items",
        ],
        [
          "nginx",
          {
            headers: [
              ["X-Original-Method", "DELETE"],
              ["X-Original-URI", "/nginx/items/1"],
            ],
          },
          "DELETE",
          "/nginx/items/1",
        ],
        [
          "Envoy",
          { method: "PATCH", path: "/v1/forward-auth/envoy/items?q=1", headers: [] },
          "PATCH",
          "/envoy/items",
        ],
      ];
      for (const [gateway, request, method, path] of forms) {
        const answer = await forwardAuth(api.forwardAuthUrl, request);
        expect(answer.status, gateway).toBe(401);
        const line = api.logs.find((l) => l.includes('"forward-auth denied"') && l.includes(path));
        expect(line, gateway).toBeDefined();
        expect(JSON.parse(line ?? "{}")).toMatchObject({ reason: "MISSING", method, path });
      }
      expect(api.logs.join("\n")).not.toContain("secret");
    } finally {
      await api.stop();
    }
  });
});

describe("INTERNAL_TOKEN", () => {
  const TOKEN = "forward-auth-token-0123456789abcdef0123456789";

  test("set: only requests carrying it as x-gateway-token are decided, as on the gRPC port", async ({
    services,
  }) => {
    const api = await startApi(services, { INTERNAL_TOKEN: TOKEN });
    try {
      const key = await api.createKey({ rate_limit_per_minute: 10 });
      for (const extra of [
        [],
        [["X-Gateway-Token", "wrong"]],
        [["X-Gateway-Token", `${TOKEN}x`]],
        [
          ["X-Gateway-Token", TOKEN],
          ["X-Gateway-Token", TOKEN],
        ],
      ] as [string, string][][]) {
        const answer = await ask(api, key.key, [], extra);
        expect(answer.status).toBe(403);
        expect(answer.body.error.code).toBe("gateway_token_required");
        expect(answer.headers["x-api-key-id"]).toBeUndefined();
      }
      const allowed = await ask(api, key.key, [], [["X-Gateway-Token", TOKEN]]);
      expect(allowed.status).toBe(200);
      // The refusals decided nothing and counted nothing.
      expect(allowed.headers["x-ratelimit-remaining"]).toBe("9");
      expect(
        counterTotal(await api.metricsText(), "grpc_unauthenticated_total", 'service="forward-auth"'),
      ).toBe(4);
    } finally {
      await api.stop();
    }
  });
});

describe("the listener", () => {
  test("stop() drains it without waiting for idle keep-alive connections", async ({ services }) => {
    const api = await startApi(services);
    const key = await api.createKey();
    const agent = new Agent({ keepAlive: true });
    const url = new URL(api.forwardAuthUrl);
    // One answered request leaves an idle keep-alive connection behind, as a gateway's upstream pool does.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      get(
        { host: url.hostname, port: url.port, path: "/v1/forward-auth", headers: bearer(key.key), agent },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode));
        },
      ).on("error", reject);
    });
    expect(status).toBe(200);
    const started = performance.now();
    await api.stop();
    expect(performance.now() - started).toBeLessThan(5_000);
    await expect(forwardAuth(api.forwardAuthUrl)).rejects.toThrow();
    agent.destroy();
  });

  test("AUTH_HTTP_PORT defaults to 9003 and is checked like the other ports", () => {
    const base = {
      DATABASE_URL: "postgres://localhost/db",
      REDIS_URL: "redis://localhost:6379",
      ADMIN_TOKEN,
    };
    expect(loadConfig(base).AUTH_HTTP_PORT).toBe(9003);
    expect(loadConfig({ ...base, AUTH_HTTP_PORT: "9103" }).AUTH_HTTP_PORT).toBe(9103);
    expect(() => loadConfig({ ...base, AUTH_HTTP_PORT: "http" })).toThrow("AUTH_HTTP_PORT:");
    expect(() => loadConfig({ ...base, AUTH_HTTP_PORT: "70000" })).toThrow("AUTH_HTTP_PORT:");
  });
});
