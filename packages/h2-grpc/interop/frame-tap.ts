import { connect, createServer, type Socket } from "node:net";
import { frames as F } from "../src/index.js";

/** One HTTP/2 frame seen on the wire, in the order it passed. */
export interface TappedFrame {
  from: "client" | "server";
  /** Which accepted connection it came on, from 0. */
  connection: number;
  type: number;
  flags: number;
  streamId: number;
  /** RST_STREAM and GOAWAY: the error code. */
  code?: number;
  /** GOAWAY: the last stream id the sender will process. */
  lastStreamId?: number;
  /** PING: its 8 bytes, hex. */
  opaque?: string;
}

export interface FrameTap {
  port: number;
  frames: TappedFrame[];
  /** Connections accepted so far. */
  connections(): number;
  /** Frames from `from` of `type`, optionally only those with all of `flags` set. */
  count(from: TappedFrame["from"], type: number, flags?: number): number;
  /** Resolves once `atLeast` frames from `from` of `type` have passed; rejects after `timeoutMs`. */
  seen(from: TappedFrame["from"], type: number, atLeast?: number, timeoutMs?: number): Promise<void>;
  /**
   * Sends the server a PING of the tap's own on `connection`, between two of the client's frames, and
   * resolves once its ACK has passed: the server has read every frame the client sent before
   * (RFC 9113 frames are processed in order). The ACK goes on to the client, which ignores it.
   */
  sync(connection?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 in front of an HTTP/2 server that passes every byte unchanged and notes
 * each frame's header both ways: what a client and the server really said to each other, without
 * trusting either side's own account.
 */
export async function startFrameTap(targetPort: number): Promise<FrameTap> {
  const seen: TappedFrame[] = [];
  const waiters = new Set<() => void>();
  const sockets = new Set<Socket>();
  const links: { upstream: Socket; clientAtFrameStart: () => boolean }[] = [];
  let accepted = 0;
  const server = createServer((client) => {
    const connection = accepted++;
    const upstream = connect(targetPort, "127.0.0.1");
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
    }
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.end());
    upstream.on("close", () => client.end());
    const passed = () => {
      for (const check of [...waiters]) check();
    };
    const fromClient = frameReader("client", connection, PREFACE_LENGTH, seen, passed);
    const fromServer = frameReader("server", connection, 0, seen, passed);
    links[connection] = { upstream, clientAtFrameStart: fromClient.atFrameStart };
    client.on("data", (chunk: Buffer) => {
      fromClient.push(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      fromServer.push(chunk);
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const count = (from: TappedFrame["from"], type: number, flags = 0) =>
    seen.filter((f) => f.from === from && f.type === type && (f.flags & flags) === flags).length;
  /** Resolves once `done()` is true, checked as each frame passes; rejects after `timeoutMs`. */
  const until = (what: string, done: () => boolean, timeoutMs = 5_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!done()) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`the frame tap did not see ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });
  let syncs = 0;
  return {
    port: typeof address === "object" && address ? address.port : 0,
    frames: seen,
    connections: () => accepted,
    count,
    seen: (from, type, atLeast = 1, timeoutMs = 5_000) =>
      until(
        `${atLeast} frames of type ${type} from the ${from}`,
        () => count(from, type) >= atLeast,
        timeoutMs,
      ),
    sync: async (connection = 0) => {
      const link = links[connection];
      if (!link) throw new Error(`the frame tap has no connection ${connection}`);
      // Between two client frames: until then, wait for the rest of the one under way.
      await until("the end of the client's frame", link.clientAtFrameStart);
      const opaque = Buffer.from(`sync${String(syncs++).padStart(4, "0")}`, "latin1");
      link.upstream.write(F.frame(F.PING, 0, 0, opaque));
      const hex = opaque.toString("hex");
      await until("the server's ACK of the tap's PING", () =>
        seen.some((f) => f.from === "server" && f.type === F.PING && f.opaque === hex),
      );
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const PREFACE_LENGTH = F.PREFACE.length;

/** Splits one direction's bytes into frames, after skipping the client's connection preface. */
function frameReader(
  from: TappedFrame["from"],
  connection: number,
  skip: number,
  out: TappedFrame[],
  passed: () => void,
) {
  let pending: Buffer = Buffer.alloc(0);
  let toSkip = skip;
  /** Whether the bytes so far end at a frame boundary (the preface included). */
  const atFrameStart = () => pending.length === 0 && toSkip === 0;
  const push = (chunk: Buffer) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    if (toSkip > 0) {
      const skipped = Math.min(toSkip, pending.length);
      pending = pending.subarray(skipped);
      toSkip -= skipped;
    }
    while (pending.length >= F.FRAME_HEADER) {
      const length = pending.readUIntBE(0, 3);
      if (pending.length < F.FRAME_HEADER + length) break;
      const type = pending[3] as number;
      const payload = pending.subarray(F.FRAME_HEADER, F.FRAME_HEADER + length);
      const frame: TappedFrame = {
        from,
        connection,
        type,
        flags: pending[4] as number,
        streamId: pending.readUInt32BE(5) & 0x7fffffff,
      };
      if (type === F.RST_STREAM && length >= 4) frame.code = payload.readUInt32BE(0);
      if (type === F.PING) frame.opaque = payload.toString("hex");
      if (type === F.GOAWAY && length >= 8) {
        frame.lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
        frame.code = payload.readUInt32BE(4);
      }
      out.push(frame);
      pending = pending.subarray(F.FRAME_HEADER + length);
    }
    passed();
  };
  return { push, atFrameStart };
}
