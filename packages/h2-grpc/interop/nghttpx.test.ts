// The conformance cases through nghttpx (Debian's nghttp2-proxy), an HTTP/2 proxy in front of
// api-key-service's gRPC port: the server must interoperate with nghttp2 as a peer on the backend
// side, with grpc-js and gRPC's C core clients on the frontend.
import { beforeAll } from "vitest";
import {
  CHECK_PATH,
  checkWithKey,
  decodeCheckResponse,
  decodeHealthStatus,
  encodeHealthRequest,
  HEALTH_PATH,
  largeCheckRequest,
} from "./messages.js";
import { type Nghttpx, startNghttpx } from "./nghttpx.js";
import { answerOf, type CallOutcome, runPython, target } from "./python-grpc.js";
import { withTempDir } from "./run-tool.js";
import { requirePythonGrpc, tool } from "./tools.js";
import {
  type Api,
  authzClient,
  bearer,
  counterTotal,
  describe,
  envoyCheckRequest,
  expect,
  headerMap,
  test,
} from "./workspace.js";

beforeAll(() => {
  tool("nghttpx");
  requirePythonGrpc();
});

/** Runs `use` with nghttpx in front of the service's gRPC port. */
function throughNghttpx(api: Api, use: (proxy: Nghttpx) => Promise<void>): Promise<void> {
  return withTempDir(async (dir) => {
    const proxy = await startNghttpx(api.grpcPort, dir);
    try {
      await use(proxy);
    } catch (err) {
      throw new Error(`${err instanceof Error ? err.message : String(err)}\nnghttpx:\n${proxy.output()}`, {
        cause: err,
      });
    } finally {
      await proxy.stop();
    }
  });
}

describe("api-key-service behind nghttpx", () => {
  test("grpc-js and gRPC C core: an allowed key, a denied one, CheckRequests near 1 MiB, 500 calls at once", async ({
    api,
  }) => {
    const key = await api.createKey({ user_id: "acme", rate_limit_per_minute: 1_000_000 });
    await throughNghttpx(api, async (proxy) => {
      const client = authzClient(proxy.port);
      try {
        const allowed = await client.check(envoyCheckRequest({ headers: bearer(key.key) }));
        expect(allowed.status?.code).toBe(0);
        expect(headerMap(allowed.ok_response?.headers)).toMatchObject({
          "x-api-key-id": key.id,
          "x-user-id": "acme",
        });

        const denied = await client.check(
          envoyCheckRequest({ headers: bearer(`${key.key.slice(0, -4)}AAAA`) }),
        );
        expect(denied.status?.code).toBe(16);
        expect(denied.denied_response?.status?.code).toBe("Unauthorized");

        const large = await runPython<CallOutcome[]>({
          target: target(proxy.port),
          scenario: "calls",
          calls: [{ path: CHECK_PATH, request: largeCheckRequest(key.key, 1_000_000), repeat: 3 }],
        });
        expect(large.map((o) => decodeCheckResponse(answerOf(o)).status?.code)).toEqual([0, 0, 0]);

        const before = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
        const many = await Promise.all(
          Array.from({ length: 500 }, () =>
            client.check(envoyCheckRequest({ headers: bearer(key.key) }), 10_000),
          ),
        );
        expect(many.every((r) => r.status?.code === 0)).toBe(true);
        const after = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
        expect(after - before).toBe(500);
      } finally {
        client.close();
      }
    });
  });

  test("gRPC C core: health, allowed and denied, 2,000 concurrent calls", async ({ api }) => {
    const key = await api.createKey({ rate_limit_per_minute: 1_000_000, rate_limit_per_day: 1_000_000 });
    await throughNghttpx(api, async (proxy) => {
      const to = target(proxy.port);
      const [serving, unknown, allowed, denied] = await runPython<CallOutcome[]>({
        target: to,
        scenario: "calls",
        calls: [
          { path: HEALTH_PATH, request: encodeHealthRequest("envoy.service.auth.v3.Authorization") },
          { path: HEALTH_PATH, request: encodeHealthRequest("no.such.Service") },
          { path: CHECK_PATH, request: checkWithKey(key.key) },
          { path: CHECK_PATH, request: checkWithKey() },
        ],
      });
      expect(decodeHealthStatus(answerOf(serving as CallOutcome))).toBe("SERVING");
      expect(unknown?.code).toBe("NOT_FOUND");
      expect(decodeCheckResponse(answerOf(allowed as CallOutcome)).status?.code).toBe(0);
      expect(decodeCheckResponse(answerOf(denied as CallOutcome)).status?.code).toBe(16);

      const before = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
      const outcomes = await runPython<CallOutcome[]>({
        target: to,
        scenario: "concurrent",
        count: 2_000,
        call: { path: CHECK_PATH, request: checkWithKey(key.key), timeout: 20 },
      });
      expect(outcomes.map((o) => decodeCheckResponse(answerOf(o)).status?.code)).toEqual(
        Array(2_000).fill(0),
      );
      const after = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
      expect(after - before).toBe(2_000);
      // Every call went through the proxy (its access log is read as it comes).
      await expect.poll(() => proxy.requests(CHECK_PATH)).toBe(2_002);
      expect(proxy.requests(HEALTH_PATH)).toBe(2);
    });
  });
});
