/**
 * The server side of one HTTP/2 connection carrying gRPC calls, read and written on the socket
 * directly. Node's http2 module creates a native stream, a Duplex, external header strings and
 * several listeners per request; those outlive young-generation collections and are freed only by
 * full ones, whose pauses were the tail of the ext_authz latency. Here a request is one small object
 * and a unary answer one buffer, all dead by the next scavenge.
 *
 * Scope: what gRPC clients send (Envoy, grpc-js, nghttp2): no server push, no priorities (parsed and
 * ignored), request bodies bounded by `maxRequestBytes`. Protocol violations get the RFC 9113 answer:
 * a stream error (RST_STREAM) or a connection error (GOAWAY, then close).
 */
import type net from "node:net";
import * as F from "./frames.js";
import { httpStatusBlock, RESPONSE_HEADERS, Status, trailersBlock, trailersOnlyBlock } from "./grpc-wire.js";
import { type HeaderList, HpackDecoder, HpackError } from "./hpack.js";
import { H2Stream, type StreamOwner } from "./stream.js";

export interface ConnectionOptions {
  maxConcurrentStreams: number;
  /** Largest request body per stream, gRPC prefixes included. */
  maxRequestBytes: number;
  /** Largest gRPC message: a larger declared length is refused as soon as its prefix arrives. */
  maxMessageBytes: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE: decoded size (RFC 9113 6.5.2) of one request's headers. */
  maxHeaderListSize: number;
  /** Headers arrived and are well-formed: route the stream, or answer it at once. */
  opened(stream: H2Stream): void;
  /** The client ended its side: the whole request body is in `stream.body()`. */
  received(stream: H2Stream): void;
  /** The connection broke a rule or failed; for the log. */
  connectionError?(message: string): void;
}

/** Received bytes we hold for unfinished requests, at most, per connection. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** Compressed header block (HEADERS + CONTINUATION), at most: a bound on buffering, not on headers. */
const MAX_HEADER_BLOCK = 256 * 1024;
const DEADLINE_CHECK_MS = 50;
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
]);

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

export class ServerConnection implements StreamOwner {
  private readonly streams = new Map<number, H2Stream>();
  private readonly decoder = new HpackDecoder(F.DEFAULT_HEADER_TABLE_SIZE);
  private prefaceSeen = false;
  private leftover: Buffer | undefined;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private lastPeerStreamId = 0;
  /** Set once we sent GOAWAY: streams above it are refused. */
  private goawayLastId: number | undefined;
  private closed = false;
  private headerBlock: { streamId: number; flags: number; parts: Buffer[]; size: number } | undefined;
  private connSendWindow = F.DEFAULT_WINDOW;
  private connRecvWindow = CONNECTION_WINDOW;
  /** Received bytes no longer held; given back to the client as connection window in batches. */
  private released = 0;
  private peerInitialWindow = F.DEFAULT_WINDOW;
  private peerMaxFrameSize = F.DEFAULT_MAX_FRAME_SIZE;
  private readonly streamWindow: number;
  private readonly blocked = new Set<H2Stream>();
  private deadlineTimer: NodeJS.Timeout | undefined;
  onClose: (() => void) | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    // One whole request fits the stream window, so a unary call never waits for WINDOW_UPDATE.
    this.streamWindow = Math.min(F.MAX_WINDOW, options.maxRequestBytes + 1024);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("drain", () => socket.resume());
    socket.on("error", () => socket.destroy());
    socket.on("close", () => this.closeAll());
    this.queue(
      F.settingsFrame([
        [F.SETTINGS_MAX_CONCURRENT_STREAMS, options.maxConcurrentStreams],
        [F.SETTINGS_INITIAL_WINDOW_SIZE, this.streamWindow],
        [F.SETTINGS_MAX_HEADER_LIST_SIZE, options.maxHeaderListSize],
      ]),
    );
    this.queue(F.windowUpdate(0, CONNECTION_WINDOW - F.DEFAULT_WINDOW));
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** Graceful shutdown: no new streams; the socket ends once the open ones finish. */
  drain(): void {
    if (this.closed || this.goawayLastId !== undefined) return;
    this.goawayLastId = this.lastPeerStreamId;
    this.queue(F.goaway(this.lastPeerStreamId, F.NO_ERROR));
    this.endIfIdle();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // --- answers (StreamOwner) ---

  respond(stream: H2Stream, message: Buffer): void {
    if (stream.closed || stream.localState !== 0) return;
    const payloadLength = 5 + message.length;
    if (
      payloadLength > stream.sendWindow ||
      payloadLength > this.connSendWindow ||
      payloadLength > this.peerMaxFrameSize
    ) {
      this.sendHeaders(stream);
      this.sendMessage(stream, message);
      this.finish(stream, Status.OK, "");
      return;
    }
    // The common case as one buffer: HEADERS, DATA with the prefixed message, trailers.
    const trailers = trailersBlock(Status.OK);
    const size = 3 * F.FRAME_HEADER + RESPONSE_HEADERS.length + payloadLength + trailers.length;
    const out = Buffer.allocUnsafe(size);
    let at = 0;
    F.writeFrameHeader(out, at, RESPONSE_HEADERS.length, F.HEADERS, F.END_HEADERS, stream.id);
    at += F.FRAME_HEADER + RESPONSE_HEADERS.copy(out, at + F.FRAME_HEADER);
    F.writeFrameHeader(out, at, payloadLength, F.DATA, 0, stream.id);
    at += F.FRAME_HEADER;
    out[at] = 0;
    out.writeUInt32BE(message.length, at + 1);
    at += 5 + message.copy(out, at + 5);
    F.writeFrameHeader(out, at, trailers.length, F.HEADERS, F.END_HEADERS | F.END_STREAM, stream.id);
    trailers.copy(out, at + F.FRAME_HEADER);
    stream.sendWindow -= payloadLength;
    this.connSendWindow -= payloadLength;
    stream.localState = 2;
    this.queue(out);
    this.localEnded(stream);
  }

  sendHeaders(stream: H2Stream): void {
    if (stream.closed || stream.localState !== 0) return;
    stream.localState = 1;
    this.queue(F.frame(F.HEADERS, F.END_HEADERS, stream.id, RESPONSE_HEADERS));
  }

  sendMessage(stream: H2Stream, message: Buffer): void {
    if (stream.closed || stream.localState !== 1) return;
    const payload = Buffer.allocUnsafe(5 + message.length);
    payload[0] = 0;
    payload.writeUInt32BE(message.length, 1);
    message.copy(payload, 5);
    if (stream.pending) stream.pending.push(payload);
    else stream.pending = [payload];
    this.sendPending(stream);
  }

  finish(stream: H2Stream, code: number, message: string): void {
    if (stream.closed || stream.localState === 2) return;
    if (stream.localState === 0) {
      stream.localState = 2;
      this.queue(
        F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, stream.id, trailersOnlyBlock(code, message)),
      );
      this.localEnded(stream);
      return;
    }
    stream.pendingTrailers = trailersBlock(code, message);
    this.sendPending(stream);
  }

  refuseHttp(stream: H2Stream, status: number): void {
    if (stream.closed || stream.localState !== 0) return;
    stream.localState = 2;
    this.queue(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, stream.id, httpStatusBlock(status)));
    this.localEnded(stream);
  }

  /** Writes what the windows allow of a stream's queued DATA, then its trailers once all is out. */
  private sendPending(stream: H2Stream): void {
    const pending = stream.pending;
    while (pending && pending.length > 0) {
      const payload = pending[0] as Buffer;
      const n = Math.min(payload.length, stream.sendWindow, this.connSendWindow, this.peerMaxFrameSize);
      if (n <= 0) {
        this.blocked.add(stream);
        return;
      }
      this.queue(F.frame(F.DATA, 0, stream.id, payload.subarray(0, n)));
      stream.sendWindow -= n;
      this.connSendWindow -= n;
      if (n === payload.length) pending.shift();
      else pending[0] = payload.subarray(n);
    }
    this.blocked.delete(stream);
    if (stream.pendingTrailers) {
      this.queue(F.frame(F.HEADERS, F.END_HEADERS | F.END_STREAM, stream.id, stream.pendingTrailers));
      stream.pendingTrailers = undefined;
      stream.localState = 2;
      this.localEnded(stream);
    }
  }

  /** Our side ended: the stream closes now if the client's has, or we reset the rest of the request. */
  private localEnded(stream: H2Stream): void {
    if (!stream.remoteEnded) this.queue(F.rstStream(stream.id, F.NO_ERROR));
    this.closeStream(stream, false);
  }

  private closeStream(stream: H2Stream, cancelled: boolean): void {
    if (stream.closed) return;
    stream.closed = true;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.release(stream.bodyLength);
    stream.chunks = [];
    if (cancelled) stream.onCancel?.();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goawayLastId !== undefined && this.streams.size === 0 && !this.closed) {
      this.flush();
      this.socket.end();
    }
  }

  // --- output ---

  // What one turn of the event loop writes leaves in one write: a batch of Redis replies becomes a
  // batch of answers in one syscall.
  private queue(bytes: Buffer): void {
    if (this.closed) return;
    this.out.push(bytes);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      process.nextTick(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.out.length === 0 || this.closed || this.socket.destroyed) return;
    const batch = this.out.length === 1 ? (this.out[0] as Buffer) : Buffer.concat(this.out);
    this.out = [];
    // A client that stops reading stops being read: its requests wait instead of its answers piling up.
    if (!this.socket.write(batch)) this.socket.pause();
  }

  private release(bytes: number): void {
    this.released += bytes;
    if (this.released >= CONNECTION_WINDOW / 4) {
      this.connRecvWindow += this.released;
      this.queue(F.windowUpdate(0, this.released));
      this.released = 0;
    }
  }

  // --- input ---

  private receive(chunk: Buffer): void {
    if (this.closed) return;
    let buf = chunk;
    if (this.leftover) {
      buf = Buffer.concat([this.leftover, chunk]);
      this.leftover = undefined;
    }
    let at = 0;
    try {
      if (!this.prefaceSeen) {
        if (buf.length < F.PREFACE.length) {
          if (!F.PREFACE.subarray(0, buf.length).equals(buf))
            throw new ConnectionError(F.PROTOCOL_ERROR, "not HTTP/2");
          this.leftover = buf;
          return;
        }
        if (!F.PREFACE.equals(buf.subarray(0, F.PREFACE.length)))
          throw new ConnectionError(F.PROTOCOL_ERROR, "not HTTP/2 (no connection preface)");
        this.prefaceSeen = true;
        at = F.PREFACE.length;
      }
      while (buf.length - at >= F.FRAME_HEADER) {
        const length = buf.readUIntBE(at, 3);
        if (length > F.DEFAULT_MAX_FRAME_SIZE)
          throw new ConnectionError(F.FRAME_SIZE_ERROR, `frame of ${length} bytes`);
        if (buf.length - at < F.FRAME_HEADER + length) break;
        const type = buf[at + 3] as number;
        const flags = buf[at + 4] as number;
        const streamId = buf.readUInt32BE(at + 5) & F.MAX_STREAM_ID;
        const payload = buf.subarray(at + F.FRAME_HEADER, at + F.FRAME_HEADER + length);
        at += F.FRAME_HEADER + length;
        this.handleFrame(type, flags, streamId, payload);
        if (this.closed) return;
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    if (at < buf.length) this.leftover = buf.subarray(at);
  }

  private handleFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.headerBlock && type !== F.CONTINUATION)
      throw new ConnectionError(F.PROTOCOL_ERROR, "a header block was interrupted");
    switch (type) {
      case F.DATA:
        this.onData(flags, streamId, payload);
        return;
      case F.HEADERS:
        this.onHeaders(flags, streamId, payload);
        return;
      case F.CONTINUATION:
        this.onContinuation(flags, streamId, payload);
        return;
      case F.PRIORITY_FRAME:
        if (streamId === 0) throw new ConnectionError(F.PROTOCOL_ERROR, "PRIORITY on stream 0");
        if (payload.length !== 5) this.streamError(streamId, F.FRAME_SIZE_ERROR);
        return;
      case F.RST_STREAM:
        this.onRstStream(streamId, payload);
        return;
      case F.SETTINGS:
        this.onSettings(flags, streamId, payload);
        return;
      case F.PUSH_PROMISE:
        throw new ConnectionError(F.PROTOCOL_ERROR, "PUSH_PROMISE from a client");
      case F.PING:
        if (streamId !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, "PING on a stream");
        if (payload.length !== 8) throw new ConnectionError(F.FRAME_SIZE_ERROR, "PING of the wrong size");
        if (!(flags & F.ACK)) this.queue(F.frame(F.PING, F.ACK, 0, payload));
        return;
      case F.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, "GOAWAY on a stream");
        // The client is leaving: finish what is open, take nothing new.
        this.drain();
        return;
      case F.WINDOW_UPDATE:
        this.onWindowUpdate(streamId, payload);
        return;
      default:
        return; // Unknown frame types are ignored (RFC 9113 5.5).
    }
  }

  private onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(F.PROTOCOL_ERROR, "DATA on stream 0");
    this.connRecvWindow -= payload.length;
    if (this.connRecvWindow < 0)
      throw new ConnectionError(F.FLOW_CONTROL_ERROR, "connection window exceeded");
    const stream = this.streams.get(streamId);
    if (!stream || stream.remoteEnded) {
      this.release(payload.length);
      if (streamId > this.lastPeerStreamId)
        throw new ConnectionError(F.PROTOCOL_ERROR, "DATA on an idle stream");
      if (stream) this.resetStream(stream, F.STREAM_CLOSED);
      return; // A stream we already closed: the client had not heard yet.
    }
    stream.recvWindow -= payload.length;
    if (stream.recvWindow < 0) {
      this.release(payload.length);
      this.resetStream(stream, F.FLOW_CONTROL_ERROR);
      return;
    }
    let data = payload;
    if (flags & F.PADDED) {
      const padding = payload[0] ?? 0;
      if (payload.length === 0 || padding >= payload.length)
        throw new ConnectionError(F.PROTOCOL_ERROR, "padding longer than the frame");
      this.release(1 + padding);
      data = payload.subarray(1, payload.length - padding);
    }
    if (stream.bodyLength + data.length > this.options.maxRequestBytes) {
      this.release(data.length);
      stream.end(Status.RESOURCE_EXHAUSTED, `request larger than ${this.options.maxRequestBytes} bytes`);
      return;
    } else if (data.length > 0) {
      stream.chunks.push(data);
      stream.bodyLength += data.length;
      if (!stream.prefixChecked && stream.bodyLength >= 5) {
        stream.prefixChecked = true;
        const declared = stream.body().readUInt32BE(1);
        if (declared > this.options.maxMessageBytes) {
          stream.end(
            Status.RESOURCE_EXHAUSTED,
            `request message of ${declared} bytes is larger than ${this.options.maxMessageBytes}`,
          );
          return;
        }
      }
    }
    if (flags & F.END_STREAM) this.remoteEnd(stream);
  }

  private onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(F.PROTOCOL_ERROR, "HEADERS on stream 0");
    let start = 0;
    let end = payload.length;
    if (flags & F.PADDED) {
      const padding = payload[0] ?? 0;
      start = 1;
      end -= padding;
    }
    if (flags & F.PRIORITY) start += 5;
    if (start > end) throw new ConnectionError(F.PROTOCOL_ERROR, "HEADERS padding longer than the frame");
    const part = payload.subarray(start, end);
    this.headerBlock = { streamId, flags, parts: [part], size: part.length };
    if (flags & F.END_HEADERS) this.endHeaderBlock();
  }

  private onContinuation(flags: number, streamId: number, payload: Buffer): void {
    const block = this.headerBlock;
    if (!block || block.streamId !== streamId)
      throw new ConnectionError(F.PROTOCOL_ERROR, "CONTINUATION without its HEADERS");
    block.size += payload.length;
    if (block.size > MAX_HEADER_BLOCK)
      throw new ConnectionError(F.ENHANCE_YOUR_CALM, "header block too large");
    block.parts.push(payload);
    if (flags & F.END_HEADERS) this.endHeaderBlock();
  }

  private endHeaderBlock(): void {
    const block = this.headerBlock as NonNullable<typeof this.headerBlock>;
    this.headerBlock = undefined;
    const bytes = block.parts.length === 1 ? (block.parts[0] as Buffer) : Buffer.concat(block.parts);
    // Decoded whatever happens to the stream: skipping a block would desynchronise the table.
    let headers: HeaderList;
    try {
      headers = this.decoder.decode(bytes);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(F.COMPRESSION_ERROR, err.message);
      throw err;
    }
    const streamId = block.streamId;
    const existing = this.streams.get(streamId);
    if (existing) {
      // Trailers from the client: they must end the stream.
      if (existing.remoteEnded) {
        this.streamError(streamId, F.STREAM_CLOSED);
        return;
      }
      if (!(block.flags & F.END_STREAM)) {
        this.resetStream(existing, F.PROTOCOL_ERROR);
        return;
      }
      this.remoteEnd(existing);
      return;
    }
    if (streamId <= this.lastPeerStreamId) {
      if (streamId % 2 === 1) return; // A stream we closed; the client had not heard yet.
      throw new ConnectionError(F.PROTOCOL_ERROR, "HEADERS on a stream the client cannot open");
    }
    if (streamId % 2 === 0) throw new ConnectionError(F.PROTOCOL_ERROR, "even stream id from a client");
    this.lastPeerStreamId = streamId;
    if (this.goawayLastId !== undefined || this.streams.size >= this.options.maxConcurrentStreams) {
      this.streamError(streamId, F.REFUSED_STREAM);
      return;
    }
    const path = requestPath(headers);
    if (path === undefined) {
      this.streamError(streamId, F.PROTOCOL_ERROR);
      return;
    }
    const stream = new H2Stream(streamId, headers, path, this, this.peerInitialWindow, this.streamWindow);
    this.streams.set(streamId, stream);
    if (headerListSize(headers) > this.options.maxHeaderListSize) {
      stream.end(Status.RESOURCE_EXHAUSTED, "request headers too large");
    } else {
      this.options.opened(stream);
      if (stream.deadline !== undefined && !stream.closed) this.watchDeadlines();
    }
    if (block.flags & F.END_STREAM && !stream.closed) this.remoteEnd(stream);
  }

  /** While streams with deadlines are open, ends those past theirs (checked every 50 ms). */
  private watchDeadlines(): void {
    if (this.deadlineTimer) return;
    this.deadlineTimer = setInterval(() => {
      const now = Date.now();
      let waiting = false;
      for (const stream of this.streams.values()) {
        if (stream.deadline === undefined) continue;
        if (stream.deadline <= now) stream.end(Status.DEADLINE_EXCEEDED, "deadline exceeded");
        else waiting = true;
      }
      if (!waiting) this.stopDeadlines();
    }, DEADLINE_CHECK_MS);
    this.deadlineTimer.unref();
  }

  private stopDeadlines(): void {
    clearInterval(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private remoteEnd(stream: H2Stream): void {
    stream.remoteEnded = true;
    if (stream.localState === 2) {
      this.closeStream(stream, false);
      return;
    }
    this.options.received(stream);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(F.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new ConnectionError(F.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size");
    if (streamId > this.lastPeerStreamId)
      throw new ConnectionError(F.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const stream = this.streams.get(streamId);
    if (stream) this.closeStream(stream, true);
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & F.ACK) {
      if (payload.length !== 0) throw new ConnectionError(F.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(F.FRAME_SIZE_ERROR, "SETTINGS of the wrong size");
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === F.SETTINGS_ENABLE_PUSH && value > 1)
        throw new ConnectionError(F.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH above 1");
      if (id === F.SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > F.MAX_WINDOW) throw new ConnectionError(F.FLOW_CONTROL_ERROR, "initial window too large");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.values()) stream.sendWindow += delta;
      }
      if (id === F.SETTINGS_MAX_FRAME_SIZE) {
        if (value < F.DEFAULT_MAX_FRAME_SIZE || value > F.MAX_FRAME_SIZE_LIMIT)
          throw new ConnectionError(F.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
        this.peerMaxFrameSize = value;
      }
      // Our answers use no dynamic table, so the client's HEADER_TABLE_SIZE needs nothing from us.
    }
    this.queue(F.SETTINGS_ACK);
    this.unblock();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4)
      throw new ConnectionError(F.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size");
    const increment = payload.readUInt32BE(0) & F.MAX_WINDOW;
    if (streamId === 0) {
      if (increment === 0) throw new ConnectionError(F.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      this.connSendWindow += increment;
      if (this.connSendWindow > F.MAX_WINDOW)
        throw new ConnectionError(F.FLOW_CONTROL_ERROR, "window above 2^31-1");
      this.unblock();
      return;
    }
    const stream = this.streams.get(streamId);
    if (!stream) {
      if (streamId > this.lastPeerStreamId)
        throw new ConnectionError(F.PROTOCOL_ERROR, "WINDOW_UPDATE on an idle stream");
      return;
    }
    if (increment === 0) {
      this.resetStream(stream, F.PROTOCOL_ERROR);
      return;
    }
    stream.sendWindow += increment;
    if (stream.sendWindow > F.MAX_WINDOW) {
      this.resetStream(stream, F.FLOW_CONTROL_ERROR);
      return;
    }
    if (stream.pending || stream.pendingTrailers) this.sendPending(stream);
  }

  private unblock(): void {
    for (const stream of [...this.blocked]) this.sendPending(stream);
  }

  private streamError(streamId: number, code: number): void {
    this.queue(F.rstStream(streamId, code));
  }

  private resetStream(stream: H2Stream, code: number): void {
    this.streamError(stream.id, code);
    this.closeStream(stream, true);
  }

  private fail(err: unknown): void {
    const code = err instanceof ConnectionError ? err.code : F.INTERNAL_ERROR;
    const message = err instanceof Error ? err.message : String(err);
    this.options.connectionError?.(message);
    this.out.push(F.goaway(this.lastPeerStreamId, code, message));
    this.flush();
    this.closed = true;
    this.socket.end();
    this.closeAll();
    // A client that never closes its side does not keep the socket.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  private closeAll(): void {
    this.closed = true;
    this.stopDeadlines();
    for (const stream of [...this.streams.values()]) this.closeStream(stream, true);
    this.blocked.clear();
    const onClose = this.onClose;
    this.onClose = undefined;
    onClose?.();
  }
}

/**
 * The request's :path if its headers are well-formed (RFC 9113 8.3): lower-case names, pseudo-headers
 * first and known, :method, :scheme and :path present once, no connection-specific fields.
 */
function requestPath(headers: HeaderList): string | undefined {
  let method: string | undefined;
  let scheme: string | undefined;
  let path: string | undefined;
  let regular = false;
  for (const [name, value] of headers) {
    if (name.startsWith(":")) {
      if (regular) return undefined;
      if (name === ":method" && method === undefined) method = value;
      else if (name === ":scheme" && scheme === undefined) scheme = value;
      else if (name === ":path" && path === undefined) path = value;
      else if (name !== ":authority") return undefined;
      continue;
    }
    regular = true;
    if (name !== name.toLowerCase() || name === "") return undefined;
    if (CONNECTION_SPECIFIC.has(name)) return undefined;
    if (name === "te" && value !== "trailers") return undefined;
  }
  if (method === undefined || scheme === undefined || !path) return undefined;
  return path;
}

function headerListSize(headers: HeaderList): number {
  let size = 0;
  for (const [name, value] of headers) size += name.length + value.length + 32;
  return size;
}
