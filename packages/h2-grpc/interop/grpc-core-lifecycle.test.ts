// gRPC's C core (Debian's python3-grpcio) against api-key-service when things go wrong: a deadline
// shorter than a stalled dependency, and the service shutting down under calls in flight.

import { beforeAll } from "vitest";
import { frames as F } from "../src/index.js";
import { startFrameTap, type TappedFrame } from "./frame-tap.js";
import {
  CHECK_PATH,
  checkWithKey,
  decodeCheckResponse,
  decodeHealthStatus,
  encodeHealthRequest,
  HEALTH_PATH,
} from "./messages.js";
import { answerOf, type CallOutcome, runPython, target } from "./python-grpc.js";
import { stallablePostgres } from "./stallable-postgres.js";
import { requirePythonGrpc } from "./tools.js";
import { bearer, describe, envoyCheckRequest, expect, startApi, test } from "./workspace.js";

beforeAll(requirePythonGrpc);

describe("gRPC C core (python3-grpcio): deadlines and shutdown", () => {
  test("a deadline shorter than a stalled key lookup: DEADLINE_EXCEEDED at the client, the connection and the service go on", async ({
    services,
  }) => {
    const { proxy, databaseUrl } = await stallablePostgres(services);
    const api = await startApi(services, { DATABASE_URL: databaseUrl });
    try {
      const key = await api.createKey();
      // Accepted and never answered: the key's first lookup waits on Postgres until the check path
      // gives up on it (the lookup pool's 500 ms connection timeout).
      proxy.setMode("blackhole");
      const [late, health] = await runPython<CallOutcome[]>({
        target: target(api.grpcPort),
        scenario: "calls",
        calls: [
          { path: CHECK_PATH, request: checkWithKey(key.key), timeout: 0.3 },
          { path: HEALTH_PATH, request: encodeHealthRequest("") },
        ],
      });
      expect(late?.code).toBe("DEADLINE_EXCEEDED");
      expect(decodeHealthStatus(answerOf(health as CallOutcome))).toBe("SERVING");
      proxy.setMode("forward");
      await expect
        .poll(
          async () => (await api.check(envoyCheckRequest({ headers: bearer(key.key) }), 2_000)).status?.code,
          { timeout: 10_000 },
        )
        .toBe(0);
    } finally {
      await api.stop();
      await proxy.close();
    }
  });

  test("shutdown with calls in flight: GOAWAY in two steps, the calls in flight answered, new calls refused, the service stops", async ({
    services,
  }) => {
    const { proxy, databaseUrl } = await stallablePostgres(services);
    const api = await startApi(services, { DATABASE_URL: databaseUrl });
    const tap = await startFrameTap(api.grpcPort);
    let stopping: Promise<void> | undefined;
    try {
      const key = await api.createKey();
      // The calls wait on the key's first lookup, as in the test above.
      proxy.setMode("blackhole");
      const inFlight = 20;
      const result = await runPython<{ in_flight: CallOutcome[]; after: CallOutcome[] }>(
        {
          target: target(tap.port),
          scenario: "shutdown",
          count: inFlight,
          after: 3,
          call: { path: CHECK_PATH, request: checkWithKey(key.key), timeout: 10 },
        },
        {
          onEvent: async (_event, resume) => {
            // Every call has reached the server and waits on the key lookup, then the service stops.
            await tap.seen("client", F.HEADERS, inFlight);
            await tap.sync();
            stopping = api.stop();
            await tap.seen("server", F.GOAWAY);
            resume();
          },
        },
      );
      // RFC 9113 6.8: a GOAWAY that refuses nothing (and a PING), then the final one once the PING
      // comes back, naming the last stream taken.
      const goaways = tap.frames.filter((f) => f.from === "server" && f.type === F.GOAWAY);
      expect(goaways).toHaveLength(2);
      const [first, goaway] = goaways as [TappedFrame, TappedFrame];
      expect([first.code, goaway.code]).toEqual([F.NO_ERROR, F.NO_ERROR]);
      expect(first.lastStreamId).toBe(F.MAX_STREAM_ID);
      const goawayAt = tap.frames.indexOf(first);
      const callStreams = tap.frames
        .slice(0, goawayAt)
        .filter((f) => f.from === "client" && f.type === F.HEADERS)
        .map((f) => f.streamId);
      // The GOAWAY let every call sent before it finish…
      expect(callStreams).toHaveLength(inFlight);
      // Streams the client opened before it heard are taken too.
      expect(goaway.lastStreamId).toBeGreaterThanOrEqual(Math.max(...callStreams));
      // …and they did: each got its whole answer, after the GOAWAY (Postgres was stalled, so the
      // key service was unavailable), and none was reset.
      const answers = result.in_flight.map((o) => decodeCheckResponse(answerOf(o)));
      expect(answers.map((a) => a.denied_response?.status?.code)).toEqual(
        Array(inFlight).fill("ServiceUnavailable"),
      );
      const firstAnswerAt = tap.frames.findIndex((f) => f.from === "server" && f.type === F.HEADERS);
      expect(firstAnswerAt).toBeGreaterThan(goawayAt);
      // Only a stream opened after the final GOAWAY could be refused, for the client to retry.
      const resets = tap.frames.filter((f) => f.from === "server" && f.type === F.RST_STREAM);
      for (const r of resets) {
        expect(r.streamId).toBeGreaterThan(goaway.lastStreamId as number);
        expect(r.code).toBe(F.REFUSED_STREAM);
      }
      // New calls were either still taken, on the wire before the final GOAWAY, and answered, or found
      // no server to take them: none failed any other way.
      for (const outcome of result.after) expect(["OK", "UNAVAILABLE"]).toContain(outcome.code);
      proxy.setMode("forward");
      await stopping;
    } finally {
      if (!stopping) await api.stop();
      await tap.close();
      await proxy.close();
    }
  });
});
