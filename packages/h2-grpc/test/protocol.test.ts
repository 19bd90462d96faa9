import net from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import { encodeRepeatedHeaders, frames as F, H2GrpcServer } from "../src/index.js";

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

/** A raw HTTP/2 client socket: writes bytes as given, reads frames back until the server closes. */
async function connect() {
  const server = new H2GrpcServer();
  server.addUnary("/t.T/Echo", (request) => request);
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
    isClosed: () => closed,
    send: (...parts: Buffer[]) => socket.write(Buffer.concat(parts)),
    open: () => socket.write(Buffer.concat([F.PREFACE, F.settingsFrame([])])),
    goawayCode: async () => {
      await waitFor("GOAWAY", () => received.some((f) => f.type === F.GOAWAY));
      return received.find((f) => f.type === F.GOAWAY)?.payload.readUInt32BE(4);
    },
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
