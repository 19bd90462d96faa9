import { describe, expect, freePort, test } from "@gateway/testing";
import { KeyFormat } from "../../../api-key-service/src/keys/key-format.js";
import { ADMIN_TOKEN } from "../../../api-key-service/test/fixtures.js";
import { createBackend } from "../../../backend-service/src/main.js";
import { type GatewayKind, startGateway } from "./gateway.js";
import { rawGet } from "./raw-request.js";
import { withGatewayStack } from "./stack.js";
import { runTestApi } from "./test-api.js";

/** A well-formed key (prefix, length, checksum) that the service never issued. */
const WRONG_KEY = new KeyFormat("gw").generate();

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

async function refusal(res: Response) {
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  const body: any = await res.json();
  expect(body).toEqual({ error: { code: expect.any(String), message: expect.any(String) } });
  return body.error as { code: string; message: string };
}

/** The behaviour every shipped gateway configuration must have, run against the real gateway. */
export function describeGateway(kind: GatewayKind): void {
  describe(`${kind} in front of backend-service, on its shipped configuration`, () => {
    test("an allowed request reaches the backend with the key's identity and without the credential", async ({
      services,
    }) => {
      await withGatewayStack(services, kind, async ({ api, send }) => {
        const key = await api.createKey({ user_id: "user_gw", scopes: ["read"] });
        // A client's own identity headers are overwritten, whichever header carries its key.
        for (const credential of [bearer(key.key), { "x-api-key": key.key }]) {
          const res = await send("/echo", {
            headers: { ...credential, "x-api-key-id": "key_chosen_by_client", "x-user-id": "someone_else" },
          });
          expect(res.status).toBe(200);
          const seen = ((await res.json()) as any).headers;
          expect(seen["x-api-key-id"]).toBe(key.id);
          expect(seen["x-user-id"]).toBe("user_gw");
          expect(seen).not.toHaveProperty("authorization");
          expect(seen).not.toHaveProperty("x-api-key");
          // The client sees its limits on the allowed answer too.
          expect(res.headers.get("x-ratelimit-remaining")).toMatch(/^\d+$/);
          expect(res.headers.get("ratelimit")).toContain('"minute"');
          // No plan, no quota: no quota header, not even an empty one.
          expect(res.headers.has("x-quota-limit")).toBe(false);
        }
        // The check reads no body: the upstream gets the client's, whole.
        const posted = await send("/echo", {
          method: "POST",
          headers: { ...bearer(key.key), "content-type": "application/json" },
          body: JSON.stringify({ order: 42, items: ["a", "b"] }),
        });
        expect(posted.status).toBe(200);
        expect(((await posted.json()) as any).body).toEqual({ order: 42, items: ["a", "b"] });
      });
    });

    test("401 without a key and with a wrong one, with the challenge; nothing reaches the backend", async ({
      services,
    }) => {
      await withGatewayStack(services, kind, async ({ send, backendPaths }) => {
        const missing = await send("/hello");
        expect(missing.status).toBe(401);
        expect(missing.headers.get("www-authenticate")).toBe('Bearer realm="api"');
        expect((await refusal(missing)).code).toBe("missing");

        const wrong = await send("/hello", { headers: bearer(WRONG_KEY) });
        expect(wrong.status).toBe(401);
        expect(wrong.headers.get("www-authenticate")).toBe('Bearer realm="api", error="invalid_token"');
        expect((await refusal(wrong)).code).toBe("unknown");
        expect(backendPaths()).toEqual([]);
      });
    });

    test("403 on the scoped route without the scope, however its path is spelt; 200 with it", async ({
      services,
    }) => {
      await withGatewayStack(services, kind, async ({ api, gateway, send, backendPaths }) => {
        const reader = await api.createKey({ scopes: ["read"] });
        const admin = await api.createKey({ scopes: ["read", "admin"] });
        const denied = await send("/admin", { headers: bearer(reader.key) });
        expect(denied.status).toBe(403);
        expect((await refusal(denied)).code).toBe("missing_scope");
        // Spellings that the backend's router reads as /admin must need the scope too.
        for (const path of ["//admin", "/ADMIN", "/x/../admin", "/%61dmin", "/admin/", "/admin?x=1"]) {
          const answer = await rawGet(gateway.url, path, bearer(reader.key));
          expect({ path, status: answer.status }).toEqual({ path, status: 403 });
        }
        expect(backendPaths()).toEqual([]);

        const allowed = await send("/admin", { headers: bearer(admin.key) });
        expect(allowed.status).toBe(200);
        expect(((await allowed.json()) as any).api_key_id).toBe(admin.id);
      });
    });

    test("429 past the limit with Retry-After and the limits reaching the client; the refused request stays out", async ({
      services,
    }) => {
      await withGatewayStack(services, kind, async ({ api, send, backendPaths }) => {
        const key = await api.createKey({ rate_limit_per_minute: 2 });
        for (let i = 0; i < 2; i++)
          expect((await send("/hello", { headers: bearer(key.key) })).status).toBe(200);
        const limited = await send("/hello", { headers: bearer(key.key) });
        expect(limited.status).toBe(429);
        expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
        expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
        expect(limited.headers.get("x-ratelimit-remaining")).toBe("0");
        expect(limited.headers.get("ratelimit")).toMatch(/"minute";r=0;t=\d+/);
        expect((await refusal(limited)).code).toBe("rate_limited");
        expect(backendPaths()).toEqual(["/hello", "/hello"]);
      });
    });

    test("429 quota_exceeded past the plan's monthly quota, with Retry-After to the period's end and the quota headers", async ({
      services,
    }) => {
      await withGatewayStack(services, kind, async ({ api, send, backendPaths }) => {
        const plan = await api.request("POST", "/api/plans", {
          body: { id: "gw_small", name: "Small", monthly_quota: 2, overage: "block" },
        });
        expect(plan.status).toBe(201);
        const user = await api.request("PUT", "/api/users/user_quota", { body: { plan_id: "gw_small" } });
        expect(user.status).toBe(200);
        const key = await api.createKey({ user_id: "user_quota" });
        const first = await send("/hello", { headers: bearer(key.key) });
        expect(first.status).toBe(200);
        expect(first.headers.get("x-quota-remaining")).toBe("1");
        expect((await send("/hello", { headers: bearer(key.key) })).status).toBe(200);
        const over = await send("/hello", { headers: bearer(key.key) });
        expect(over.status).toBe(429);
        expect((await refusal(over)).code).toBe("quota_exceeded");
        expect(over.headers.get("x-quota-remaining")).toBe("0");
        // Seconds to the end of the billing period (a calendar month here): more than a minute's window.
        expect(Number(over.headers.get("retry-after"))).toBeGreaterThan(60);
        expect(backendPaths()).toEqual(["/hello", "/hello"]);
      });
    });

    test("a revoked key is refused within a second", async ({ services }) => {
      await withGatewayStack(services, kind, async ({ api, send }) => {
        const key = await api.createKey();
        expect((await send("/hello", { headers: bearer(key.key) })).status).toBe(200);
        const revoked = await api.request("DELETE", `/api/keys/${key.id}`);
        expect(revoked.status).toBe(200);
        const since = Date.now();
        let status = 0;
        while (Date.now() - since < 1_000) {
          status = (await send("/hello", { headers: bearer(key.key) })).status;
          if (status === 401) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(status).toBe(401);
      });
    });

    test("scopes and cost are the route's: /render counts 20, a client's X-Request-Cost and X-Required-Scopes count for nothing", async ({
      services,
    }) => {
      await withGatewayStack(services, kind, async ({ api, send, backendPaths }) => {
        const key = await api.createKey({ rate_limit_per_minute: 100 });
        const cheap = await send("/hello", {
          headers: { ...bearer(key.key), "x-request-cost": "50", "x-required-scopes": "admin" },
        });
        expect(cheap.status).toBe(200);
        expect(cheap.headers.get("x-ratelimit-remaining")).toBe("99");
        const costly = await send("/render", { headers: bearer(key.key) });
        expect(costly.status).toBe(200);
        expect(costly.headers.get("x-ratelimit-remaining")).toBe("79");
        expect(backendPaths()).toEqual(["/hello", "/echo"]);
      });
    });

    test("test-api.sh passes through it, and usage is billed once per allowed request from the checks", {
      timeout: 60_000,
    }, async ({ services }) => {
      const billing = { billing: true, apiEnv: { AUTHZ_FLUSH_INTERVAL: "1s" } };
      await withGatewayStack(
        services,
        kind,
        async ({ api, gateway, send, backendPaths, sidecar }) => {
          const run = await runTestApi({
            API_URL: api.baseUrl,
            GATEWAY_URL: gateway.url,
            ADMIN_TOKEN,
            USAGE_TIMEOUT: "30",
          });
          expect(run.code, run.output).toBe(0);
          expect(run.output).toContain("14 passed, 0 failed");

          // Three allowed requests, one of them on the route that costs 20, and two refused ones.
          const key = await api.createKey({ user_id: "user_billed" });
          const served = backendPaths().length;
          for (const path of ["/hello", "/hello", "/render", "/admin"])
            await send(path, { headers: bearer(key.key) });
          await send("/hello", { headers: bearer(WRONG_KEY) });
          expect(backendPaths().slice(served)).toEqual(["/hello", "/hello", "/echo"]);

          const usage = async () => {
            const res = await api.request("GET", `/api/usage?key_id=${key.id}&granularity=minute`);
            const rows = res.body.data as { requests: number; billable_units: number }[];
            return {
              requests: rows.reduce((n, r) => n + r.requests, 0),
              units: rows.reduce((n, r) => n + r.billable_units, 0),
            };
          };
          await expect.poll(usage, { timeout: 20_000, interval: 250 }).toEqual({ requests: 3, units: 22 });
          // Later passes (the poller's every second, and this one) take nothing twice.
          await new Promise((r) => setTimeout(r, 2_500));
          await sidecar?.flush();
          expect(await usage()).toEqual({ requests: 3, units: 22 });
        },
        billing,
      );
    });

    test("a gateway started without the endpoint's INTERNAL_TOKEN lets nothing through", async ({
      services,
    }) => {
      await withGatewayStack(
        services,
        kind,
        async ({ api, send, backendPaths }) => {
          const key = await api.createKey();
          const res = await send("/hello", { headers: bearer(key.key) });
          expect(res.status).toBe(403);
          expect((await refusal(res)).code).toBe("gateway_token_required");
          expect(backendPaths()).toEqual([]);
        },
        { gatewayToken: false },
      );
    });

    test("fails closed: with the forward-auth endpoint unreachable nothing reaches the backend", async () => {
      const backendHits: string[] = [];
      const backend = createBackend(
        { PORT: 0, HOST: "127.0.0.1" },
        {
          log: (line) =>
            line.msg === "request" && line.path !== "/health" && backendHits.push(String(line.path)),
        },
      );
      const { port } = await backend.start();
      const gateway = await startGateway(kind, {
        forwardAuthAddr: `127.0.0.1:${await freePort()}`,
        backendAddr: `127.0.0.1:${port}`,
      });
      try {
        const res = await fetch(`${gateway.url}/hello`, { headers: bearer(WRONG_KEY) });
        // nginx says 503 as Envoy does; Caddy's reverse_proxy says 502.
        expect(res.status).toBe(kind === "nginx" ? 503 : 502);
        expect(backendHits).toEqual([]);
      } finally {
        await gateway.stop();
        await backend.stop();
      }
    });
  });
}
