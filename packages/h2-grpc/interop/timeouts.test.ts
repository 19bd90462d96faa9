// The server's connection timeouts (GRPC_IDLE_TIMEOUT, GRPC_KEEPALIVE_INTERVAL,
// GRPC_MAX_CONNECTION_AGE; docs/AUTHZ.md) as gRPC's C core (Debian's python3-grpcio) meets them:
// each ends or probes the connection the way the client expects, and no call fails for it, with
// either gRPC server.
import { beforeAll } from "vitest";
import { frames as F } from "../src/index.js";
import { startFrameTap } from "./frame-tap.js";
import { CHECK_PATH, checkWithKey, decodeCheckResponse } from "./messages.js";
import { answerOf, type CallOutcome, runPython, target } from "./python-grpc.js";
import { requirePythonGrpc } from "./tools.js";
import { describe, expect, GRPC_SERVERS, startApi, test } from "./workspace.js";

beforeAll(requirePythonGrpc);

const allowed = (outcomes: CallOutcome[]) =>
  outcomes.map((o) => decodeCheckResponse(answerOf(o)).status?.code);

// The grpc-js fallback (GRPC_SERVER=grpc-js) takes the same settings and must behave the same.
describe.each(GRPC_SERVERS)("connection timeouts over %s seen from gRPC's C core", (grpcServer) => {
  test("idle for longer than GRPC_IDLE_TIMEOUT: GOAWAY and close; the next call reconnects and is answered", async ({
    services,
  }) => {
    const api = await startApi(services, { GRPC_SERVER: grpcServer, GRPC_IDLE_TIMEOUT: "1s" });
    const tap = await startFrameTap(api.grpcPort);
    try {
      const key = await api.createKey();
      const result = await runPython<{ calls: CallOutcome[]; states: string[] }>({
        target: target(tap.port),
        scenario: "keepalive",
        seconds: 2.5,
        call: { path: CHECK_PATH, request: checkWithKey(key.key) },
      });
      expect(allowed(result.calls)).toEqual([0, 0]);
      // The first connection was told it would get nothing more past its one call, then closed: h2
      // in two steps as RFC 9113 6.8 has it (first a GOAWAY that refuses nothing); node's HTTP/2,
      // under grpc-js, names stream 1 twice.
      const goaways = tap.frames.filter((f) => f.from === "server" && f.type === F.GOAWAY);
      expect(goaways.every((g) => g.connection === 0 && g.code === F.NO_ERROR)).toBe(true);
      expect(goaways.at(-1)?.lastStreamId).toBe(1);
      expect(goaways[0]?.lastStreamId).toBe(grpcServer === "h2" ? F.MAX_STREAM_ID : 1);
      expect(tap.connections()).toBe(2);
      expect(result.states).toContain("IDLE");
      expect(result.states).not.toContain("TRANSIENT_FAILURE");
    } finally {
      await tap.close();
      await api.stop();
    }
  });

  test("quiet for longer than GRPC_KEEPALIVE_INTERVAL: the server's PINGs are acknowledged, the connection kept", async ({
    services,
  }) => {
    const api = await startApi(services, { GRPC_SERVER: grpcServer, GRPC_KEEPALIVE_INTERVAL: "1s" });
    const tap = await startFrameTap(api.grpcPort);
    try {
      const key = await api.createKey();
      const result = await runPython<{ calls: CallOutcome[]; states: string[] }>({
        target: target(tap.port),
        scenario: "keepalive",
        seconds: 2.5,
        call: { path: CHECK_PATH, request: checkWithKey(key.key) },
      });
      expect(allowed(result.calls)).toEqual([0, 0]);
      const pings = tap.frames.filter(
        (f) => f.from === "server" && f.type === F.PING && (f.flags & F.ACK) === 0,
      );
      expect(pings.length).toBeGreaterThanOrEqual(1);
      await expect.poll(() => tap.count("client", F.PING, F.ACK)).toBeGreaterThanOrEqual(pings.length);
      expect(tap.count("server", F.GOAWAY)).toBe(0);
      expect(tap.connections()).toBe(1);
    } finally {
      await tap.close();
      await api.stop();
    }
  });

  test("older than GRPC_MAX_CONNECTION_AGE: GOAWAY, the client moves to a new connection, no call fails", async ({
    services,
  }) => {
    const api = await startApi(services, { GRPC_SERVER: grpcServer, GRPC_MAX_CONNECTION_AGE: "1s" });
    const tap = await startFrameTap(api.grpcPort);
    try {
      const key = await api.createKey();
      const outcomes = await runPython<CallOutcome[]>({
        target: target(tap.port),
        scenario: "calls",
        calls: [{ path: CHECK_PATH, request: checkWithKey(key.key), repeat: 10, pause: 0.3 }],
      });
      expect(allowed(outcomes)).toEqual(Array(10).fill(0));
      const goaways = tap.frames.filter((f) => f.from === "server" && f.type === F.GOAWAY);
      expect(goaways.length).toBeGreaterThanOrEqual(1);
      expect(goaways.every((g) => g.code === F.NO_ERROR)).toBe(true);
      expect(tap.connections()).toBeGreaterThanOrEqual(2);
      expect(tap.count("server", F.RST_STREAM)).toBe(0);
    } finally {
      await tap.close();
      await api.stop();
    }
  });
});
