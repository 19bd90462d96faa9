/**
 * A minimal HTTP/2 client connection for unary gRPC calls, written against the socket rather than
 * node:http2: node:http2 builds a Duplex stream, a headers object and several event listeners per
 * request, which on this class of machine costs about as much CPU as a grpc-js server spends
 * answering. Here a request is a pre-built pair of HEADERS + DATA frames whose stream ids are patched
 * in, and a response is read frame by frame with a small HPACK decoder.
 */
import net from "node:net";
import { encodeRepeatedHeaders, frames, type HeaderList, HpackDecoder } from "@gateway/h2-grpc";

const {
  ACK,
  CONTINUATION,
  DATA,
  DEFAULT_HEADER_TABLE_SIZE,
  DEFAULT_WINDOW,
  END_HEADERS,
  END_STREAM,
  FRAME_HEADER,
  frame,
  GOAWAY,
  HEADERS,
  MAX_STREAM_ID,
  MAX_WINDOW,
  PADDED,
  PING,
  PREFACE,
  PRIORITY,
  RST_STREAM,
  SETTINGS,
  SETTINGS_ENABLE_PUSH,
  SETTINGS_INITIAL_WINDOW_SIZE,
  SETTINGS_MAX_CONCURRENT_STREAMS,
  settingsFrame,
  WINDOW_UPDATE,
  windowUpdate,
} = frames;

/** Gives the server back receive window once this much response data has arrived. */
const WINDOW_REFILL = 2 ** 30;

/** One request's DATA frame (END_STREAM) with stream id 0 as a placeholder, built once per key. */
export class RequestTemplate {
  readonly data: Buffer;
  readonly bodyLength: number;

  constructor(grpcBody: Buffer) {
    this.data = frame(DATA, END_STREAM, 0, grpcBody);
    this.bodyLength = grpcBody.length;
  }
}

/** What Envoy's ext_authz gRPC client puts in every call's HEADERS. */
export function checkHeaderBlocks(port: number, path: string): { first: Buffer; repeat: Buffer } {
  const headers: HeaderList = [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", path],
    [":authority", `127.0.0.1:${port}`],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
  ];
  return encodeRepeatedHeaders(headers);
}

/** One call in flight; the caller's timing fields ride along so completion needs no lookup. */
export class Call {
  httpStatus = 0;
  grpcStatus: string | undefined = undefined;
  grpcMessage: string | undefined = undefined;
  body: Buffer | undefined = undefined;
  headersSeen = false;
  error: string | undefined = undefined;

  constructor(
    readonly startedAt: number,
    readonly scheduledAt: number,
  ) {}
}

export type CompletionHandler = (call: Call, connection: H2Connection) => void;

export class H2Connection {
  private readonly calls = new Map<number, Call>();
  private readonly decoder = new HpackDecoder(DEFAULT_HEADER_TABLE_SIZE);
  private readonly firstHeaders: Buffer;
  private readonly repeatHeaders: Buffer;
  private nextStreamId = 1;
  private sendWindow = DEFAULT_WINDOW;
  private received = 0;
  private leftover: Buffer | undefined;
  private outgoing: Buffer[] = [];
  private flushScheduled = false;
  /** Calls waiting for flow-control window or for a stream slot under the server's limit. */
  private blocked: Array<[RequestTemplate, Call]> = [];
  private headerBlock: { streamId: number; flags: number; parts: Buffer[] } | undefined;
  private closedReason: string | undefined;
  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS (unlimited until it says otherwise). */
  maxConcurrentStreams = Number.POSITIVE_INFINITY;
  onClose: ((reason: string) => void) | undefined;

  private constructor(
    private readonly socket: net.Socket,
    headerBlocks: { first: Buffer; repeat: Buffer },
    private readonly onComplete: CompletionHandler,
  ) {
    this.firstHeaders = frame(HEADERS, END_HEADERS, 0, headerBlocks.first);
    this.repeatHeaders = frame(HEADERS, END_HEADERS, 0, headerBlocks.repeat);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("error", (err) => this.close(`socket error: ${err.message}`));
    socket.on("close", () => this.close("connection closed by the server"));
    // The default header table (4096 bytes) stays, as with Envoy: the server may index its answers.
    const settings = settingsFrame([
      [SETTINGS_ENABLE_PUSH, 0],
      [SETTINGS_INITIAL_WINDOW_SIZE, MAX_WINDOW],
    ]);
    socket.write(Buffer.concat([PREFACE, settings, windowUpdate(0, MAX_WINDOW - DEFAULT_WINDOW)]));
  }

  static connect(
    port: number,
    headerBlocks: { first: Buffer; repeat: Buffer },
    onComplete: CompletionHandler,
    timeoutMs: number,
  ): Promise<H2Connection> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: "127.0.0.1", port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`could not connect to 127.0.0.1:${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("connect", () => {
        clearTimeout(timer);
        resolve(new H2Connection(socket, headerBlocks, onComplete));
      });
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  get inFlight(): number {
    return this.calls.size + this.blocked.length;
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  send(template: RequestTemplate, call: Call): void {
    if (this.closedReason !== undefined) {
      call.error = this.closedReason;
      this.onComplete(call, this);
      return;
    }
    if (
      this.sendWindow < template.bodyLength ||
      this.calls.size >= this.maxConcurrentStreams ||
      this.blocked.length > 0
    ) {
      this.blocked.push([template, call]);
      return;
    }
    const streamId = this.nextStreamId;
    if (streamId > MAX_STREAM_ID) {
      call.error = "stream ids exhausted on this connection";
      this.onComplete(call, this);
      return;
    }
    this.nextStreamId += 2;
    this.sendWindow -= template.bodyLength;
    this.calls.set(streamId, call);
    const headers = streamId === 1 ? this.firstHeaders : this.repeatHeaders;
    const bytes = Buffer.allocUnsafe(headers.length + template.data.length);
    headers.copy(bytes, 0);
    template.data.copy(bytes, headers.length);
    bytes.writeUInt32BE(streamId, 5);
    bytes.writeUInt32BE(streamId, headers.length + 5);
    this.queue(bytes);
  }

  destroy(): void {
    this.socket.destroy();
  }

  // Everything written in one turn of the event loop leaves in one write: under load a batch of
  // completions turns into a batch of new requests, and one syscall instead of dozens is most of
  // what makes this client cheap.
  private queue(bytes: Buffer): void {
    this.outgoing.push(bytes);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.outgoing.length === 0 || this.closedReason !== undefined) return;
    const batch = this.outgoing.length === 1 ? (this.outgoing[0] as Buffer) : Buffer.concat(this.outgoing);
    this.outgoing = [];
    this.socket.write(batch);
  }

  private receive(chunk: Buffer): void {
    let buf = chunk;
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, chunk]);
      this.leftover = undefined;
    }
    let at = 0;
    while (buf.length - at >= FRAME_HEADER) {
      const length = buf.readUIntBE(at, 3);
      if (buf.length - at < FRAME_HEADER + length) break;
      const type = buf[at + 3] ?? 0;
      const flags = buf[at + 4] ?? 0;
      const streamId = buf.readUInt32BE(at + 5) & MAX_STREAM_ID;
      const payload = buf.subarray(at + FRAME_HEADER, at + FRAME_HEADER + length);
      at += FRAME_HEADER + length;
      try {
        this.handleFrame(type, flags, streamId, payload);
      } catch (err) {
        this.close(`protocol error: ${err instanceof Error ? err.message : String(err)}`);
        return;
      }
    }
    if (at < buf.length) this.leftover = buf.subarray(at);
  }

  private handleFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.headerBlock && type !== CONTINUATION) throw new Error("expected CONTINUATION");
    switch (type) {
      case DATA:
        this.handleData(flags, streamId, payload);
        return;
      case HEADERS: {
        let start = 0;
        let end = payload.length;
        if (flags & PADDED) {
          start = 1;
          end -= payload[0] ?? 0;
        }
        if (flags & PRIORITY) start += 5;
        this.headerBlock = { streamId, flags, parts: [payload.subarray(start, end)] };
        if (flags & END_HEADERS) this.endHeaderBlock();
        return;
      }
      case CONTINUATION:
        if (!this.headerBlock || this.headerBlock.streamId !== streamId)
          throw new Error("stray CONTINUATION");
        this.headerBlock.parts.push(payload);
        if (flags & END_HEADERS) this.endHeaderBlock();
        return;
      case RST_STREAM:
        this.fail(streamId, `stream reset by the server (code ${payload.readUInt32BE(0)})`);
        return;
      case SETTINGS:
        if (flags & ACK) return;
        for (let i = 0; i + 6 <= payload.length; i += 6) {
          if (payload.readUInt16BE(i) === SETTINGS_MAX_CONCURRENT_STREAMS) {
            this.maxConcurrentStreams = payload.readUInt32BE(i + 2);
          }
        }
        this.queue(frame(SETTINGS, ACK, 0, Buffer.alloc(0)));
        return;
      case PING:
        if (!(flags & ACK)) this.queue(frame(PING, ACK, 0, payload));
        return;
      case GOAWAY:
        this.close(`server sent GOAWAY (code ${payload.readUInt32BE(4)})`);
        return;
      case WINDOW_UPDATE:
        if (streamId === 0) {
          this.sendWindow += payload.readUInt32BE(0) & MAX_STREAM_ID;
          this.unblock();
        }
        return;
      default:
        return;
    }
  }

  private handleData(flags: number, streamId: number, payload: Buffer): void {
    this.received += payload.length;
    if (this.received >= WINDOW_REFILL) {
      this.queue(windowUpdate(0, this.received));
      this.received = 0;
    }
    const call = this.calls.get(streamId);
    if (!call) return;
    let data = payload;
    if (flags & PADDED) data = payload.subarray(1, payload.length - (payload[0] ?? 0));
    call.body = call.body === undefined ? data : Buffer.concat([call.body, data]);
    if (flags & END_STREAM) this.complete(streamId, call);
  }

  private endHeaderBlock(): void {
    const block = this.headerBlock;
    if (!block) return;
    this.headerBlock = undefined;
    const bytes = block.parts.length === 1 ? (block.parts[0] as Buffer) : Buffer.concat(block.parts);
    // Decode even for unknown streams: skipping a block would desynchronise a dynamic table.
    const headers = this.decoder.decode(bytes);
    const call = this.calls.get(block.streamId);
    if (!call) return;
    for (const [name, value] of headers) {
      if (name === ":status" && !call.headersSeen) call.httpStatus = Number(value);
      else if (name === "grpc-status") call.grpcStatus = value;
      else if (name === "grpc-message") call.grpcMessage = value;
    }
    call.headersSeen = true;
    if (block.flags & END_STREAM) this.complete(block.streamId, call);
  }

  private complete(streamId: number, call: Call): void {
    this.calls.delete(streamId);
    if (this.blocked.length > 0) this.unblock();
    this.onComplete(call, this);
  }

  private fail(streamId: number, error: string): void {
    const call = this.calls.get(streamId);
    if (!call) return;
    call.error = error;
    this.complete(streamId, call);
  }

  private unblock(): void {
    const waiting = this.blocked;
    this.blocked = [];
    for (const [template, call] of waiting) this.send(template, call);
  }

  private close(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.socket.destroy();
    const pending = [...this.calls.values(), ...this.blocked.map(([, call]) => call)];
    this.calls.clear();
    this.blocked = [];
    for (const call of pending) {
      call.error = reason;
      this.onComplete(call, this);
    }
    this.onClose?.(reason);
  }
}
