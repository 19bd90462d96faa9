// api-key-service's gRPC port driven by gRPC's C core (Debian's python3-grpcio), a client no one
// here wrote (Envoy's google_grpc client is the same core, in C++).

import { beforeAll } from "vitest";
import { frames as F } from "../src/index.js";
import { startFrameTap } from "./frame-tap.js";
import {
  CHECK_PATH,
  checkWithKey,
  decodeCheckResponse,
  decodeHealthStatus,
  encodeHealthRequest,
  HEALTH_PATH,
  largeCheckRequest,
} from "./messages.js";
import { answerOf, type CallOutcome, runPython, target } from "./python-grpc.js";
import { requirePythonGrpc } from "./tools.js";
import { counterTotal, describe, expect, headerMap, test } from "./workspace.js";

beforeAll(requirePythonGrpc);

describe("gRPC C core (python3-grpcio) against api-key-service", () => {
  test("unary Check: an allowed key and a denied one, decoded from the raw answer", async ({ api }) => {
    const key = await api.createKey({ user_id: "acme", rate_limit_per_minute: 10 });
    const [allowed, unknown, none] = await runPython<CallOutcome[]>({
      target: target(api.grpcPort),
      scenario: "calls",
      calls: [
        { path: CHECK_PATH, request: checkWithKey(key.key) },
        { path: CHECK_PATH, request: checkWithKey(`${key.key.slice(0, -4)}AAAA`) },
        { path: CHECK_PATH, request: checkWithKey() },
      ],
    });
    const ok = decodeCheckResponse(answerOf(allowed as CallOutcome));
    expect(ok.status?.code).toBe(0);
    expect(headerMap(ok.ok_response?.headers)).toMatchObject({ "x-api-key-id": key.id, "x-user-id": "acme" });
    expect(headerMap(ok.ok_response?.response_headers_to_add)["x-ratelimit-remaining"]).toBe("9");

    const denied = decodeCheckResponse(answerOf(unknown as CallOutcome));
    expect(denied.status?.code).toBe(16);
    expect(denied.denied_response?.status?.code).toBe("Unauthorized");
    expect(headerMap(denied.denied_response?.headers)["www-authenticate"]).toBe(
      'Bearer realm="api", error="invalid_token"',
    );
    const missing = decodeCheckResponse(answerOf(none as CallOutcome));
    expect(missing.status?.code).toBe(16);
    expect(JSON.parse(missing.denied_response?.body ?? "{}").error.code).toBe("missing");
  });

  test("health Check: SERVING for the server and for the Authorization service, NOT_FOUND otherwise", async ({
    api,
  }) => {
    const outcomes = await runPython<CallOutcome[]>({
      target: target(api.grpcPort),
      scenario: "calls",
      calls: ["", "envoy.service.auth.v3.Authorization", "no.such.Service"].map((service) => ({
        path: HEALTH_PATH,
        request: encodeHealthRequest(service),
      })),
    });
    expect(outcomes.slice(0, 2).map((o) => decodeHealthStatus(answerOf(o)))).toEqual(["SERVING", "SERVING"]);
    expect(outcomes[2]?.code).toBe("NOT_FOUND");
  });

  test("what the server does not take gets a clear status, and the connection goes on", async ({ api }) => {
    const key = await api.createKey();
    const tap = await startFrameTap(api.grpcPort);
    try {
      const [gzip, bigMetadata, after] = await runPython<CallOutcome[]>({
        target: target(tap.port),
        scenario: "calls",
        calls: [
          { path: CHECK_PATH, request: checkWithKey(key.key), gzip: true },
          // Past the 16 KiB header list the server announces (SETTINGS_MAX_HEADER_LIST_SIZE).
          { path: CHECK_PATH, request: checkWithKey(key.key), metadata: [["x-large", "m".repeat(20_000)]] },
          { path: CHECK_PATH, request: checkWithKey(key.key) },
        ],
      });
      expect(gzip).toMatchObject({
        code: "UNIMPLEMENTED",
        details: expect.stringContaining("identity only"),
      });
      expect(bigMetadata).toMatchObject({ code: "RESOURCE_EXHAUSTED", details: "request headers too large" });
      expect(decodeCheckResponse(answerOf(after as CallOutcome)).status?.code).toBe(0);
      expect(tap.connections()).toBe(1);
      expect(tap.count("server", F.GOAWAY)).toBe(0);
    } finally {
      await tap.close();
    }
  });

  // gRPC's C core asks for a ping every 100 ms but, without data to send, sends about one a second.
  test("keepalive pings over 3.5 s without a call: each one answered, the one connection kept", async ({
    api,
  }) => {
    const tap = await startFrameTap(api.grpcPort);
    try {
      const key = await api.createKey();
      const result = await runPython<{ calls: CallOutcome[]; states: string[] }>({
        target: target(tap.port),
        scenario: "keepalive",
        seconds: 3.5,
        options: [
          ["grpc.keepalive_time_ms", 100],
          // An unanswered ping closes the connection after this long, which the states would show.
          ["grpc.keepalive_timeout_ms", 500],
          ["grpc.keepalive_permit_without_calls", 1],
          ["grpc.http2.max_pings_without_data", 0],
        ],
        call: { path: CHECK_PATH, request: checkWithKey(key.key) },
      });
      expect(result.calls.map((c) => decodeCheckResponse(answerOf(c)).status?.code)).toEqual([0, 0]);
      const pings = tap.count("client", F.PING);
      expect(pings).toBeGreaterThanOrEqual(3);
      // The last ACK may still be on its way through the tap when the client has exited.
      await tap.seen("server", F.PING, pings);
      expect(tap.count("server", F.PING, F.ACK)).toBe(pings);
      expect(tap.connections()).toBe(1);
      expect(tap.count("server", F.GOAWAY)).toBe(0);
      // Connected once and never lost it.
      expect(result.states.filter((s) => s === "READY")).toHaveLength(1);
      expect(result.states).not.toContain("TRANSIENT_FAILURE");
    } finally {
      await tap.close();
    }
  });

  test("twenty CheckRequests near 1 MiB on one connection (more than its 16 MiB window): all answered", async ({
    api,
  }) => {
    const tap = await startFrameTap(api.grpcPort);
    try {
      const key = await api.createKey({ rate_limit_per_minute: 1_000 });
      const request = largeCheckRequest(key.key, 1_000_000);
      expect(request.length).toBeGreaterThan(1_000_000);
      expect(request.length).toBeLessThan(1024 * 1024);
      const outcomes = await runPython<CallOutcome[]>({
        target: target(tap.port),
        scenario: "calls",
        calls: [{ path: CHECK_PATH, request, repeat: 20, timeout: 10 }],
      });
      // Each was read whole: the key among its headers was found and checked.
      const keyIds = outcomes.map(
        (o) => headerMap(decodeCheckResponse(answerOf(o)).ok_response?.headers)["x-api-key-id"],
      );
      expect(keyIds).toEqual(Array(20).fill(key.id));
      // The server gave the connection's window back as it went.
      expect(
        tap.frames.some((f) => f.from === "server" && f.type === F.WINDOW_UPDATE && f.streamId === 0),
      ).toBe(true);
      expect(tap.connections()).toBe(1);
    } finally {
      await tap.close();
    }
  });

  test("2,000 concurrent calls on one channel: every one answered, and checked once", async ({ api }) => {
    const key = await api.createKey({ rate_limit_per_minute: 1_000_000, rate_limit_per_day: 1_000_000 });
    const before = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
    const outcomes = await runPython<CallOutcome[]>({
      target: target(api.grpcPort),
      scenario: "concurrent",
      count: 2_000,
      call: { path: CHECK_PATH, request: checkWithKey(key.key), timeout: 20 },
    });
    expect(outcomes.map((o) => decodeCheckResponse(answerOf(o)).status?.code)).toEqual(Array(2_000).fill(0));
    const after = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
    expect(after - before).toBe(2_000);
  });
});
