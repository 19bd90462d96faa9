// api-key-service's gRPC port driven by nghttp2's clients (Debian's nghttp2-client): nghttp for one
// call in raw gRPC framing, h2load for many concurrent streams.
import { CHECK_PATH, checkWithKey, decodeCheckResponse, framed } from "./messages.js";
import { runTool, withTempDir, writeBody } from "./run-tool.js";
import { tool } from "./tools.js";
import { counterTotal, describe, expect, headerMap, test } from "./workspace.js";

const GRPC_HEADERS = ["-H", "content-type: application/grpc", "-H", "te: trailers"];

/**
 * A gRPC call made twice with nghttp: once verbose (-v, data discarded) for the frames and fields
 * received, once plain for the answer's body, which nghttp writes to stdout.
 */
async function nghttpCall(port: number, body: Buffer, options: string[] = []) {
  return withTempDir(async (dir) => {
    const data = await writeBody(dir, "request.bin", body);
    const call = async (flags: string[]) => {
      const run = await runTool(
        tool("nghttp"),
        [...flags, ...options, "-d", data, ...GRPC_HEADERS, `http://127.0.0.1:${port}${CHECK_PATH}`],
        { timeoutMs: 10_000 },
      );
      expect(run.code, run.stdout + run.stderr).toBe(0);
      return run;
    };
    const log = (await call(["-v", "-n"])).stdout;
    return { log, answer: (await call([])).stdoutBytes };
  });
}

/**
 * `calls` gRPC calls of `body` with h2load and `options` (connections, streams…); throws unless every
 * one ended 2xx.
 */
async function h2load(port: number, body: Buffer, calls: number, options: string[]) {
  const run = await withTempDir(async (dir) => {
    const data = await writeBody(dir, "request.bin", body);
    return runTool(
      tool("h2load"),
      [...options, "-n", String(calls), "-d", data, ...GRPC_HEADERS, `http://127.0.0.1:${port}${CHECK_PATH}`],
      { timeoutMs: 40_000 },
    );
  });
  const output = run.stdout + run.stderr;
  expect(run.code, output).toBe(0);
  expect(output).toMatch(
    new RegExp(
      `requests: ${calls} total, ${calls} started, ${calls} done, ${calls} succeeded, 0 failed, 0 errored, 0 timeout`,
    ),
  );
  expect(output).toMatch(new RegExp(`status codes: ${calls} 2xx, 0 3xx, 0 4xx, 0 5xx`));
}

/** The message of a one-message gRPC body, checking its 5-byte prefix. */
function unframe(body: Buffer): Buffer {
  expect(body[0]).toBe(0);
  expect(body.readUInt32BE(1)).toBe(body.length - 5);
  return body.subarray(5);
}

describe("nghttp2 clients against api-key-service", () => {
  test("nghttp: a call in raw gRPC framing gets headers, one message, and grpc-status 0 in trailers", async ({
    api,
  }) => {
    const key = await api.createKey({ user_id: "acme" });
    const allowed = await nghttpCall(api.grpcPort, framed(checkWithKey(key.key)));
    const ok = decodeCheckResponse(unframe(allowed.answer));
    expect(ok.status?.code).toBe(0);
    expect(headerMap(ok.ok_response?.headers)).toMatchObject({ "x-api-key-id": key.id, "x-user-id": "acme" });
    // The status arrives as trailers: a HEADERS frame ending the stream, after the DATA.
    const log = allowed.log;
    expect(log).toMatch(/recv \(stream_id=\d+\) :status: 200/);
    expect(log).toMatch(/recv \(stream_id=\d+\) content-type: application\/grpc/);
    const data = log.search(/recv DATA frame/);
    const trailers = log.search(/recv \(stream_id=\d+\) grpc-status: 0/);
    expect(data).toBeGreaterThan(0);
    expect(trailers).toBeGreaterThan(data);
    expect(log.slice(data)).toMatch(/recv HEADERS frame <[^>]*flags=0x05/);

    const denied = await nghttpCall(api.grpcPort, framed(checkWithKey()));
    expect(denied.log).toMatch(/grpc-status: 0/);
    expect(decodeCheckResponse(unframe(denied.answer)).denied_response?.status?.code).toBe("Unauthorized");
  });

  test("nghttp with a 15-byte window: the answer comes in DATA frames the window allows, whole", async ({
    api,
  }) => {
    const key = await api.createKey({ user_id: "acme" });
    // -w/-W: stream and connection windows of 2^4 - 1 bytes.
    const { log, answer } = await nghttpCall(api.grpcPort, framed(checkWithKey(key.key)), [
      "-w",
      "4",
      "-W",
      "4",
    ]);
    const ok = decodeCheckResponse(unframe(answer));
    expect(ok.status?.code).toBe(0);
    expect(headerMap(ok.ok_response?.headers)["x-api-key-id"]).toBe(key.id);
    // The verbose call's answer, in frames of at most 15 bytes.
    const data = [...log.matchAll(/recv DATA frame <length=(\d+)/g)].map((m) => Number(m[1]));
    const total = data.reduce((sum, length) => sum + length, 0);
    expect(total).toBeGreaterThan(100);
    expect(Math.max(...data)).toBeLessThanOrEqual(15);
    expect(data.length).toBeGreaterThanOrEqual(Math.ceil(total / 15));
    expect(log).toMatch(/grpc-status: 0/);
  });

  // Envoy sends SETTINGS_HEADER_TABLE_SIZE 0 when its http2_protocol_options set hpack_table_size: 0.
  // RFC 7541 4.2: the encoder then signals a smaller table at the start of its next header block;
  // nghttp2 (in Envoy, nghttp, h2load, node) refuses a header block without it (COMPRESSION_ERROR).
  test("a client without an HPACK dynamic table (SETTINGS_HEADER_TABLE_SIZE 0): answered", async ({
    api,
  }) => {
    const key = await api.createKey({ rate_limit_per_minute: 1_000 });
    const { log, answer } = await nghttpCall(api.grpcPort, framed(checkWithKey(key.key)), ["-c", "0"]);
    expect(log).not.toMatch(/COMPRESSION_ERROR/);
    expect(decodeCheckResponse(unframe(answer)).status?.code).toBe(0);
    await h2load(api.grpcPort, framed(checkWithKey(key.key)), 200, [
      "-c",
      "1",
      "-m",
      "10",
      "--header-table-size=0",
    ]);
  });

  test("h2load: 20,000 calls on 4 connections, 100 streams each at once: every one answered and allowed", async ({
    api,
  }) => {
    const calls = 20_000;
    const key = await api.createKey({ rate_limit_per_minute: 1_000_000, rate_limit_per_day: 1_000_000 });
    const before = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
    await h2load(api.grpcPort, framed(checkWithKey(key.key)), calls, ["-c", "4", "-m", "100"]);
    // HTTP 200 says nothing of gRPC's status: the service's own count shows each call was a check
    // that passed.
    const after = counterTotal(await api.metricsText(), "authz_checks_total", 'outcome="allowed"');
    expect(after - before).toBe(calls);
  });
});
