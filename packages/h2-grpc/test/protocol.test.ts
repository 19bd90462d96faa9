import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import {
  type CallContext,
  encodeRepeatedHeaders,
  frames as F,
  H2GrpcServer,
  type H2GrpcServerOptions,
} from "../src/index.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Frame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/**
 * Calls to /t.T/Slow, held until `release()`: each records its context, so a test sees how many
 * handlers ran and whether they learnt of a cancellation.
 */
function slowHandler() {
  const calls: CallContext[] = [];
  let open: Array<() => void> = [];
  return {
    calls,
    handler: (request: Buffer, call: CallContext) => {
      calls.push(call);
      return new Promise<Buffer>((resolve) => open.push(() => resolve(request)));
    },
    release: () => {
      for (const resolve of open) resolve();
      open = [];
    },
  };
}

/** A raw HTTP/2 client socket: writes bytes as given, reads frames back until the server closes. */
async function connect(options: H2GrpcServerOptions = {}, slow = slowHandler()) {
  const connectionErrors: string[] = [];
  const server = new H2GrpcServer({ ...options, onConnectionError: (m) => connectionErrors.push(m) });
  server.addUnary("/t.T/Echo", (request) => request);
  server.addUnary("/t.T/Slow", slow.handler);
  const port = await server.listen("127.0.0.1", 0);
  cleanups.push(() => server.close(100));
  const socket = net.connect(port, "127.0.0.1");
  cleanups.push(() => void socket.destroy());
  const received: Frame[] = [];
  let buffered = Buffer.alloc(0);
  let closed = false;
  socket.on("data", (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 9) {
      const length = buffered.readUIntBE(0, 3);
      if (buffered.length < 9 + length) break;
      received.push({
        type: buffered[3] as number,
        flags: buffered[4] as number,
        streamId: buffered.readUInt32BE(5) & F.MAX_STREAM_ID,
        payload: buffered.subarray(9, 9 + length),
      });
      buffered = buffered.subarray(9 + length);
    }
  });
  socket.on("error", () => {});
  socket.on("close", () => {
    closed = true;
  });
  await new Promise((resolve) => socket.once("connect", resolve));
  const waitFor = async (what: string, found: () => boolean) => {
    for (let i = 0; i < 200 && !found(); i++) await new Promise((r) => setTimeout(r, 10));
    if (!found())
      throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(received.map((f) => f.type))}`);
  };
  return {
    socket,
    received,
    connectionErrors,
    slow,
    isClosed: () => closed,
    send: (...parts: Buffer[]) => socket.write(Buffer.concat(parts)),
    open: () => socket.write(Buffer.concat([F.PREFACE, F.settingsFrame([])])),
    goawayCode: async () => {
      await waitFor("GOAWAY", () => received.some((f) => f.type === F.GOAWAY));
      return received.find((f) => f.type === F.GOAWAY)?.payload.readUInt32BE(4);
    },
    goawayText: () =>
      received
        .find((f) => f.type === F.GOAWAY)
        ?.payload.subarray(8)
        .toString(),
    /** RST_STREAM error codes the server sent, by stream id. */
    resets: () =>
      new Map(
        received.filter((f) => f.type === F.RST_STREAM).map((f) => [f.streamId, f.payload.readUInt32BE(0)]),
      ),
    waitFor,
  };
}

const headerBlock = encodeRepeatedHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/t.T/Echo"],
  [":authority", "x"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]).first;
const message = Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]);
const slowBlock = encodeRepeatedHeaders([
  [":method", "POST"],
  [":scheme", "http"],
  [":path", "/t.T/Slow"],
  [":authority", "x"],
  ["content-type", "application/grpc"],
  ["te", "trailers"],
]).first;
/** A call to /t.T/Slow with a grpc-timeout. */
const slowWithTimeout = (timeout: string) =>
  encodeRepeatedHeaders([
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/t.T/Slow"],
    [":authority", "x"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["grpc-timeout", timeout],
  ]).first;
/** A whole request on a stream: HEADERS, then DATA with the message and END_STREAM. */
const call = (id: number, block = headerBlock) =>
  Buffer.concat([F.frame(F.HEADERS, F.END_HEADERS, id, block), F.frame(F.DATA, F.END_STREAM, id, message)]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("HTTP/2 protocol handling", () => {
  test("answers a call and acknowledges SETTINGS and PING", async () => {
    const c = await connect();
    c.open();
    const ping = Buffer.from("12345678");
    c.send(
      F.frame(F.PING, 0, 0, ping),
      F.frame(F.HEADERS, F.END_HEADERS, 1, headerBlock),
      F.frame(F.DATA, F.END_STREAM, 1, message),
    );
    await c.waitFor("trailers", () => c.received.some((f) => f.type === F.HEADERS && f.flags & F.END_STREAM));
    expect(c.received.some((f) => f.type === F.SETTINGS && f.flags & F.ACK)).toBe(true);
    expect(c.received.find((f) => f.type === F.PING)?.payload.equals(ping)).toBe(true);
    expect(c.received.find((f) => f.type === F.DATA)?.payload.equals(message)).toBe(true);
  });

  test("a client without an HPACK dynamic table sees a table size update open every block we send", async () => {
    const c = await connect();
    c.open();
    c.send(F.settingsFrame([[F.SETTINGS_HEADER_TABLE_SIZE, 0]]), call(1));
    await c.waitFor("trailers on 1", () =>
      c.received.some((f) => f.type === F.HEADERS && f.streamId === 1 && f.flags & F.END_STREAM),
    );
    // A call the server answers trailers-only (no such method), and one that is not gRPC at all.
    const unknown = encodeRepeatedHeaders([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/t.T/Nope"],
      [":authority", "x"],
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ]).first;
    c.send(F.frame(F.HEADERS, F.END_HEADERS, 3, unknown), F.frame(F.DATA, F.END_STREAM, 3, message));
    const notGrpc = encodeRepeatedHeaders([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/t.T/Echo"],
      [":authority", "x"],
      ["content-type", "text/plain"],
    ]).first;
    c.send(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, 5, notGrpc));
    await c.waitFor("answers on 3 and 5", () =>
      [3, 5].every((id) =>
        c.received.some((f) => f.type === F.HEADERS && f.streamId === id && f.flags & F.END_STREAM),
      ),
    );
    const blocks = c.received.filter((f) => f.type === F.HEADERS);
    // Response headers and trailers on 1, one trailers-only block on 3, the bare 415 on 5.
    expect(blocks.length).toBe(4);
    // 001xxxxx with a size of 0: the update, first in each block (RFC 7541 6.3).
    for (const block of blocks) expect(block.payload[0]).toBe(0x20);
  });

  test("a header block split over CONTINUATION frames, with padding, is read whole", async () => {
    const c = await connect();
    c.open();
    const padded = Buffer.concat([Buffer.from([4]), headerBlock.subarray(0, 10), Buffer.alloc(4)]);
    c.send(
      F.frame(F.HEADERS, F.PADDED, 1, padded),
      F.frame(F.CONTINUATION, 0, 1, headerBlock.subarray(10, 20)),
      F.frame(F.CONTINUATION, F.END_HEADERS, 1, headerBlock.subarray(20)),
      F.frame(F.DATA, F.END_STREAM, 1, message),
    );
    await c.waitFor("the answer", () => c.received.some((f) => f.type === F.DATA));
  });

  test("a client that does not speak HTTP/2 is disconnected", async () => {
    const c = await connect();
    c.send(Buffer.from("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
    expect(await c.goawayCode()).toBe(F.PROTOCOL_ERROR);
    await c.waitFor("close", c.isClosed);
  });

  test.each([
    ["a frame above the maximum size", () => F.frame(F.DATA, 0, 1, Buffer.alloc(16_385)), F.FRAME_SIZE_ERROR],
    ["an even stream id", () => F.frame(F.HEADERS, F.END_HEADERS, 2, headerBlock), F.PROTOCOL_ERROR],
    ["DATA on stream 0", () => F.frame(F.DATA, 0, 0, Buffer.alloc(1)), F.PROTOCOL_ERROR],
    ["PUSH_PROMISE from a client", () => F.frame(F.PUSH_PROMISE, 0, 1, Buffer.alloc(4)), F.PROTOCOL_ERROR],
    ["a PING of the wrong size", () => F.frame(F.PING, 0, 0, Buffer.alloc(7)), F.FRAME_SIZE_ERROR],
    [
      "a header block HPACK cannot decode",
      () => F.frame(F.HEADERS, F.END_HEADERS, 1, Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff])),
      F.COMPRESSION_ERROR,
    ],
    ["a connection window overflow", () => F.windowUpdate(0, F.MAX_WINDOW), F.FLOW_CONTROL_ERROR],
    [
      "a CONTINUATION without HEADERS",
      () => F.frame(F.CONTINUATION, F.END_HEADERS, 1, headerBlock),
      F.PROTOCOL_ERROR,
    ],
  ])("%s is a connection error", async (_label, bad, code) => {
    const c = await connect();
    c.open();
    c.send(bad());
    expect(await c.goawayCode()).toBe(code);
    await c.waitFor("close", c.isClosed);
  });

  test("an endless header block is cut off instead of buffered", async () => {
    const c = await connect();
    c.open();
    c.send(F.frame(F.HEADERS, 0, 1, headerBlock));
    const chunk = F.frame(F.CONTINUATION, 0, 1, Buffer.alloc(16_000, 0x80 | 2));
    for (let i = 0; i < 20 && !c.isClosed(); i++) c.send(chunk);
    expect(await c.goawayCode()).toBe(F.ENHANCE_YOUR_CALM);
  });

  test("malformed request headers reset the stream, and the connection goes on", async () => {
    const c = await connect();
    c.open();
    const upper = encodeRepeatedHeaders([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/t.T/Echo"],
      ["Content-Type", "application/grpc"],
    ]).first;
    c.send(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, 1, upper));
    await c.waitFor("RST_STREAM", () => c.received.some((f) => f.type === F.RST_STREAM));
    expect(c.received.find((f) => f.type === F.RST_STREAM)?.payload.readUInt32BE(0)).toBe(F.PROTOCOL_ERROR);
    c.send(F.frame(F.HEADERS, F.END_HEADERS, 3, headerBlock), F.frame(F.DATA, F.END_STREAM, 3, message));
    await c.waitFor("the answer on stream 3", () =>
      c.received.some((f) => f.type === F.DATA && f.streamId === 3),
    );
    expect(c.isClosed()).toBe(false);
  });

  test("an answer larger than the client's window waits for WINDOW_UPDATE", async () => {
    const c = await connect();
    c.socket.write(Buffer.concat([F.PREFACE, F.settingsFrame([[F.SETTINGS_INITIAL_WINDOW_SIZE, 10]])]));
    const body = Buffer.alloc(100, 9);
    const request = Buffer.concat([Buffer.from([0, 0, 0, 0, body.length]), body]);
    c.send(F.frame(F.HEADERS, F.END_HEADERS, 1, headerBlock), F.frame(F.DATA, F.END_STREAM, 1, request));
    const dataBytes = () =>
      c.received.filter((f) => f.type === F.DATA).reduce((n, f) => n + f.payload.length, 0);
    await c.waitFor("the first 10 bytes", () => dataBytes() === 10);
    await new Promise((r) => setTimeout(r, 50));
    expect(dataBytes()).toBe(10);
    c.send(F.windowUpdate(1, 1_000));
    await c.waitFor("trailers", () => c.received.some((f) => f.type === F.HEADERS && f.flags & F.END_STREAM));
    expect(dataBytes()).toBe(105);
  });

  test("a stream the client resets is dropped without an answer", async () => {
    const server = new H2GrpcServer();
    let cancelled = false;
    server.addServerStream("/t.T/Watch", (_request, call) => {
      call.onCancel = () => {
        cancelled = true;
      };
      call.sendHeaders();
    });
    const port = await server.listen("127.0.0.1", 0);
    cleanups.push(() => server.close(100));
    const socket = net.connect(port, "127.0.0.1");
    cleanups.push(() => void socket.destroy());
    await new Promise((resolve) => socket.once("connect", resolve));
    const block = encodeRepeatedHeaders([
      [":method", "POST"],
      [":scheme", "http"],
      [":path", "/t.T/Watch"],
      ["content-type", "application/grpc"],
    ]).first;
    socket.write(
      Buffer.concat([
        F.PREFACE,
        F.settingsFrame([]),
        F.frame(F.HEADERS, F.END_HEADERS, 1, block),
        F.frame(F.DATA, F.END_STREAM, 1, Buffer.from([0, 0, 0, 0, 0])),
      ]),
    );
    await new Promise((r) => setTimeout(r, 50));
    socket.write(F.rstStream(1, F.CANCEL));
    for (let i = 0; i < 100 && !cancelled; i++) await new Promise((r) => setTimeout(r, 10));
    expect(cancelled).toBe(true);
  });
});

describe("rapid reset (CVE-2023-44487): work in flight is bounded", () => {
  test("a call reset by the client counts until its handler finishes; streams past the bound are refused", async () => {
    const c = await connect({ maxConcurrentStreams: 4 });
    c.open();
    c.send(call(1, slowBlock), call(3, slowBlock), call(5, slowBlock), call(7, slowBlock));
    await c.waitFor("four handlers running", () => c.slow.calls.length === 4);
    c.send(...[1, 3, 5, 7].map((id) => F.rstStream(id, F.CANCEL)), call(9, slowBlock));
    await c.waitFor("stream 9 refused", () => c.resets().has(9));
    expect(c.resets().get(9)).toBe(F.REFUSED_STREAM);
    expect(c.slow.calls.length).toBe(4);
    // The handlers learnt of the cancellation, and once they finish there is room again.
    expect(c.slow.calls.map((context) => [context.cancelled, context.signal.aborted])).toEqual(
      Array(4).fill([true, true]),
    );
    c.slow.release();
    await sleep(20);
    c.send(call(11));
    await c.waitFor("the answer on stream 11", () =>
      c.received.some((f) => f.type === F.DATA && f.streamId === 11),
    );
  });

  test("a request reset in the same read as it arrived never reaches its handler", async () => {
    const c = await connect();
    c.open();
    const attack = [];
    for (let id = 1; id < 200; id += 2) attack.push(call(id, slowBlock), F.rstStream(id, F.CANCEL));
    c.send(...attack, call(201));
    await c.waitFor("the answer on stream 201", () =>
      c.received.some((f) => f.type === F.DATA && f.streamId === 201),
    );
    expect(c.slow.calls.length).toBe(0);
    expect(c.isClosed()).toBe(false);
  });

  test("resets faster than the limit are answered with GOAWAY ENHANCE_YOUR_CALM", async () => {
    const c = await connect({ maxResetsPerWindow: 50, resetWindowMs: 10_000 });
    c.open();
    const attack = [];
    for (let id = 1; id < 120; id += 2) attack.push(call(id, slowBlock), F.rstStream(id, F.CANCEL));
    c.send(...attack);
    expect(await c.goawayCode()).toBe(F.ENHANCE_YOUR_CALM);
    expect(c.goawayText()).toMatch(/resets/);
    await c.waitFor("close", c.isClosed);
  });

  test("a client giving up at its deadline is not an attack: those resets are not counted", async () => {
    const c = await connect({ maxResetsPerWindow: 50, resetWindowMs: 10_000 });
    c.open();
    const ids = Array.from({ length: 60 }, (_, i) => 1 + 2 * i);
    c.send(...ids.map((id) => call(id, slowWithTimeout("400m"))));
    await c.waitFor("sixty handlers running", () => c.slow.calls.length === 60);
    // As Envoy's ext_authz does when its timeout passes with the check still running: its clock
    // started before ours, so its reset comes before the deadline we keep (which would end the call).
    await sleep(250);
    c.send(...ids.map((id) => F.rstStream(id, F.CANCEL)));
    c.send(call(201));
    await c.waitFor("the answer on stream 201", () =>
      c.received.some((f) => f.type === F.DATA && f.streamId === 201),
    );
    expect(c.received.some((f) => f.type === F.GOAWAY)).toBe(false);
    c.slow.release();
  });

  test("a grpc-timeout does not excuse resets sent right after the request", async () => {
    const c = await connect({ maxResetsPerWindow: 50, resetWindowMs: 10_000 });
    c.open();
    const attack = [];
    for (let id = 1; id < 120; id += 2)
      attack.push(call(id, slowWithTimeout("1m")), F.rstStream(id, F.CANCEL));
    c.send(...attack);
    expect(await c.goawayCode()).toBe(F.ENHANCE_YOUR_CALM);
  });

  test("streams the server refuses count as resets too: zero-length header blocks", async () => {
    const c = await connect({ maxResetsPerWindow: 50 });
    c.open();
    const empty = [];
    for (let id = 1; id < 120; id += 2)
      empty.push(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, id, Buffer.alloc(0)));
    c.send(...empty.slice(0, 10));
    await c.waitFor("ten refusals", () => c.resets().size === 10);
    expect([...c.resets().values()].every((code) => code === F.PROTOCOL_ERROR)).toBe(true);
    c.send(...empty.slice(10));
    expect(await c.goawayCode()).toBe(F.ENHANCE_YOUR_CALM);
  });

  test("the handler's signal is made on demand and aborts when the client resets later", async () => {
    const c = await connect();
    c.open();
    c.send(call(1, slowBlock));
    await c.waitFor("the handler", () => c.slow.calls.length === 1);
    const context = c.slow.calls[0] as CallContext;
    const aborted = new Promise((resolve) => context.signal.addEventListener("abort", resolve));
    expect(context.cancelled).toBe(false);
    c.send(F.rstStream(1, F.CANCEL));
    await aborted;
    expect(context.cancelled).toBe(true);
  });
});

describe("timeouts", () => {
  test("a client that sends no connection preface is disconnected", async () => {
    const c = await connect({ prefaceTimeoutMs: 200 });
    c.send(F.PREFACE.subarray(0, 10));
    await c.waitFor("close", c.isClosed);
  });

  test("an idle connection gets GOAWAY and is closed; one with a call open is not idle", async () => {
    const c = await connect({ idleTimeoutMs: 300, keepaliveIntervalMs: 0 });
    c.open();
    c.send(call(1, slowBlock));
    await sleep(700);
    expect(c.received.some((f) => f.type === F.GOAWAY)).toBe(false);
    c.slow.release();
    await c.waitFor("the answer", () => c.received.some((f) => f.type === F.DATA && f.streamId === 1));
    // PINGs are answered but do not make the connection busy.
    for (let i = 0; i < 4; i++) {
      c.send(F.frame(F.PING, 0, 0, Buffer.alloc(8)));
      await sleep(100);
    }
    expect(await c.goawayCode()).toBe(F.NO_ERROR);
    await c.waitFor("close", c.isClosed);
  });

  test("a quiet connection is PINGed, and closed when the PING is not acknowledged", async () => {
    const answering = await connect({ keepaliveIntervalMs: 150, keepaliveTimeoutMs: 150 });
    const silent = await connect({ keepaliveIntervalMs: 150, keepaliveTimeoutMs: 150 });
    answering.open();
    silent.open();
    answering.socket.on("data", () => {
      for (const f of answering.received.splice(0))
        if (f.type === F.PING && !(f.flags & F.ACK)) answering.send(F.frame(F.PING, F.ACK, 0, f.payload));
    });
    await silent.waitFor("a PING", () =>
      silent.received.some((f) => f.type === F.PING && !(f.flags & F.ACK)),
    );
    await silent.waitFor("close", silent.isClosed);
    await sleep(600);
    expect(answering.isClosed()).toBe(false);
  });

  test("with a maximum age, the connection gets GOAWAY, its open call finishes, and it closes after the grace", async () => {
    const c = await connect({
      maxConnectionAgeMs: 200,
      maxConnectionAgeGraceMs: 600,
      keepaliveIntervalMs: 0,
    });
    c.open();
    c.send(call(1, slowBlock));
    expect(await c.goawayCode()).toBe(F.NO_ERROR);
    const goaways = () => c.received.filter((f) => f.type === F.GOAWAY).map((f) => f.payload.readUInt32BE(0));
    // The first step refuses nothing: a call already on its way is taken.
    expect(goaways()).toEqual([F.MAX_STREAM_ID]);
    const ping = c.received.find((f) => f.type === F.PING && !(f.flags & F.ACK)) as Frame;
    c.send(call(3));
    await c.waitFor("the answer on stream 3", () =>
      c.received.some((f) => f.type === F.DATA && f.streamId === 3),
    );
    // The PING's ACK: everything the client sent before it has arrived; the final GOAWAY names 3.
    c.send(F.frame(F.PING, F.ACK, 0, ping.payload));
    await c.waitFor("the final GOAWAY", () => goaways().length === 2);
    expect(goaways()).toEqual([F.MAX_STREAM_ID, 3]);
    c.send(call(5));
    await c.waitFor("stream 5 refused", () => c.resets().has(5));
    expect(c.resets().get(5)).toBe(F.REFUSED_STREAM);
    c.slow.release();
    await c.waitFor("the answer on stream 1", () =>
      c.received.some((f) => f.type === F.DATA && f.streamId === 1),
    );
    await c.waitFor("close", c.isClosed);
  });

  test("a shutdown's final GOAWAY does not wait for a client that never acknowledges the PING", async () => {
    const c = await connect({
      maxConnectionAgeMs: 100,
      maxConnectionAgeGraceMs: 5_000,
      keepaliveIntervalMs: 0,
    });
    c.open();
    c.send(call(1, slowBlock));
    await c.waitFor("the final GOAWAY", () => c.received.filter((f) => f.type === F.GOAWAY).length === 2);
    const last = c.received.filter((f) => f.type === F.GOAWAY).at(-1) as Frame;
    expect(last.payload.readUInt32BE(0)).toBe(1);
    c.slow.release();
    await c.waitFor("close", c.isClosed);
  });

  test("a call held past the grace is cut", async () => {
    const c = await connect({
      maxConnectionAgeMs: 100,
      maxConnectionAgeGraceMs: 200,
      keepaliveIntervalMs: 0,
    });
    c.open();
    c.send(call(1, slowBlock));
    await c.waitFor("close", c.isClosed);
    expect(c.received.some((f) => f.type === F.DATA)).toBe(false);
  });
});

describe("control-frame floods (nghttp2's and Envoy's limits)", () => {
  const flood = (frame: Buffer, count: number) => Buffer.concat(Array(count).fill(frame));

  test.each([
    [
      "PINGs whose ACKs the client does not read",
      () => flood(F.frame(F.PING, 0, 0, Buffer.alloc(8)), 20_000),
    ],
    ["SETTINGS whose ACKs the client does not read", () => flood(F.settingsFrame([]), 20_000)],
    [
      "a SETTINGS frame with 33 entries",
      () => F.settingsFrame(Array.from({ length: 33 }, () => [F.SETTINGS_MAX_FRAME_SIZE, 16_384])),
    ],
    [
      "two empty DATA frames in a row",
      () =>
        Buffer.concat([
          F.frame(F.HEADERS, F.END_HEADERS, 1, slowBlock),
          flood(F.frame(F.DATA, 0, 1, Buffer.alloc(0)), 2),
        ]),
    ],
    [
      "two zero-length header blocks in a row",
      () =>
        Buffer.concat([
          F.frame(F.HEADERS, 0, 1, Buffer.alloc(0)),
          F.frame(F.CONTINUATION, 0, 1, Buffer.alloc(0)),
        ]),
    ],
    ["WINDOW_UPDATEs with no DATA sent", () => flood(F.windowUpdate(0, 1), 5)],
    ["PRIORITY frames", () => flood(F.frame(F.PRIORITY_FRAME, 0, 1, Buffer.from([0, 0, 0, 0, 16])), 101)],
  ])("%s: GOAWAY ENHANCE_YOUR_CALM", async (_label, bad) => {
    const c = await connect();
    c.open();
    c.socket.pause();
    c.send(bad());
    c.socket.resume();
    expect(await c.goawayCode()).toBe(F.ENHANCE_YOUR_CALM);
    await c.waitFor("close", c.isClosed);
  });

  test("within the limits, a client's WINDOW_UPDATEs, PRIORITY frames and an empty END_STREAM are fine", async () => {
    const c = await connect();
    c.open();
    c.send(
      F.windowUpdate(0, 1_000),
      F.frame(F.PRIORITY_FRAME, 0, 1, Buffer.from([0, 0, 0, 0, 16])),
      F.frame(F.HEADERS, F.END_HEADERS, 1, headerBlock),
      F.frame(F.DATA, 0, 1, message),
      F.frame(F.DATA, F.END_STREAM, 1, Buffer.alloc(0)),
    );
    await c.waitFor("the answer", () =>
      c.received.some((f) => f.type === F.HEADERS && f.flags & F.END_STREAM),
    );
    for (let i = 0; i < 10; i++) c.send(F.windowUpdate(0, 1), F.windowUpdate(1, 1));
    await sleep(50);
    expect(c.received.some((f) => f.type === F.GOAWAY)).toBe(false);
  });
});
