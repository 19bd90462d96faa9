// The server's flood defences (packages/h2-grpc, README "Defences") as a real client meets them:
// gRPC's C core (Debian's python3-grpcio) must be told clearly, and recover, when it crosses one,
// and not be bothered while it stays below.
import { beforeAll } from "vitest";
import { frames as F } from "../src/index.js";
import { startFrameTap, type TappedFrame } from "./frame-tap.js";
import { decodeHealthStatus, encodeHealthRequest, HEALTH_PATH } from "./messages.js";
import { answerOf, type CallOutcome, runPython, target } from "./python-grpc.js";
import { requirePythonGrpc } from "./tools.js";
import { describe, expect, test } from "./workspace.js";

beforeAll(requirePythonGrpc);

const WATCH_PATH = "/grpc.health.v1.Health/Watch";

describe("flood defences seen from gRPC's C core", () => {
  /**
   * Opens `count` health Watch streams (they stay open until cancelled) on one channel through a
   * frame tap, cancels them all once each is established, then makes a health Check.
   */
  async function cancelWatches(grpcPort: number, count: number) {
    const tap = await startFrameTap(grpcPort);
    try {
      const result = await runPython<{ cancelled: number; calls: CallOutcome[] }>(
        {
          target: target(tap.port),
          scenario: "cancel",
          count,
          call: { path: WATCH_PATH, request: encodeHealthRequest(""), stream: true, timeout: 30 },
          calls: [{ path: HEALTH_PATH, request: encodeHealthRequest("") }],
        },
        {
          onEvent: async (_event, resume) => {
            // Each Watch answers with its headers and the current status at once.
            await tap.seen("server", F.HEADERS, count, 15_000);
            resume();
          },
        },
      );
      return { result, tap };
    } finally {
      await tap.close();
    }
  }

  test("cancelling 500 open calls: no GOAWAY, the connection goes on", async ({ api }) => {
    const { result, tap } = await cancelWatches(api.grpcPort, 500);
    expect(result.cancelled).toBe(500);
    expect(tap.count("client", F.RST_STREAM)).toBe(500);
    expect(tap.count("server", F.GOAWAY)).toBe(0);
    expect(decodeHealthStatus(answerOf(result.calls[0] as CallOutcome))).toBe("SERVING");
    expect(tap.connections()).toBe(1);
  });

  test("cancelling 1,200 open calls within 10 s (rapid reset): GOAWAY ENHANCE_YOUR_CALM, the client reconnects and is answered", async ({
    api,
  }) => {
    const { result, tap } = await cancelWatches(api.grpcPort, 1_200);
    expect(result.cancelled).toBe(1_200);
    const goaways = tap.frames.filter((f) => f.from === "server" && f.type === F.GOAWAY);
    expect(goaways.map((g) => [g.connection, g.code])).toEqual([[0, F.ENHANCE_YOUR_CALM]]);
    // Only once past the limit of 1,000 resets per 10 s.
    const resetsBefore = tap.frames.indexOf(goaways[0] as TappedFrame);
    const resetsSent = tap.frames
      .slice(0, resetsBefore)
      .filter((f) => f.from === "client" && f.type === F.RST_STREAM);
    expect(resetsSent.length).toBeGreaterThan(1_000);
    // The next call went on a new connection.
    expect(decodeHealthStatus(answerOf(result.calls[0] as CallOutcome))).toBe("SERVING");
    expect(tap.connections()).toBe(2);
  });
});
