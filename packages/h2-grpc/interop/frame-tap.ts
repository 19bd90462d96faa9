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
    client.on("data", (chunk: Buffer) => {
      fromClient(chunk);
      upstream.write(chunk);
    });
    upstream.on("data", (chunk: Buffer) => {
      fromServer(chunk);
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const count = (from: TappedFrame["from"], type: number, flags = 0) =>
    seen.filter((f) => f.from === from && f.type === type && (f.flags & flags) === flags).length;
  return {
    port: typeof address === "object" && address ? address.port : 0,
    frames: seen,
    connections: () => accepted,
    count,
    seen: (from, type, atLeast = 1, timeoutMs = 5_000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (count(from, type) < atLeast) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`${count(from, type)} frames of type ${type} from the ${from}, not ${atLeast}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      }),
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
  return (chunk: Buffer) => {
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
      if (type === F.GOAWAY && length >= 8) {
        frame.lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
        frame.code = payload.readUInt32BE(4);
      }
      out.push(frame);
      pending = pending.subarray(F.FRAME_HEADER + length);
    }
    passed();
  };
}
