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
import { StreamTable } from "./stream-table.js";

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
  /** A client that has not sent the connection preface by then is disconnected. */
  prefaceTimeoutMs: number;
  /** No stream open and none started for this long: GOAWAY and close. 0: never. PINGs do not count. */
  idleTimeoutMs: number;
  /** Nothing received for this long: we send a PING. 0: never. */
  keepaliveIntervalMs: number;
  /** Our PING unacknowledged for this long: the connection is closed. */
  keepaliveTimeoutMs: number;
  /** GOAWAY after this age, ±10 % so that connections opened together do not leave together. 0: never. */
  maxConnectionAgeMs: number;
  /** After that GOAWAY, calls still open get this long before the connection is cut. */
  maxConnectionAgeGraceMs: number;
  /** Stream resets (the client's RST_STREAM and our refusals) allowed per window, sliding. */
  maxResetsPerWindow: number;
  resetWindowMs: number;
}

/**
 * Flood limits as nghttp2 (lib/nghttp2_session.c) and Envoy (http2_protocol_options) set them: a
 * client past one is answered GOAWAY ENHANCE_YOUR_CALM and disconnected.
 */
/** PING and SETTINGS ACKs and RST_STREAMs written but not yet taken by the socket (nghttp2 and Envoy: 1000). */
const MAX_OUTBOUND_CONTROL_FRAMES = 1_000;
/** Entries in one SETTINGS frame (nghttp2: 32). */
const MAX_SETTINGS_ENTRIES = 32;
/** DATA, HEADERS or CONTINUATION frames in a row with nothing in them and no END_STREAM (Envoy: 1). */
const MAX_CONSECUTIVE_EMPTY_FRAMES = 1;
/** PRIORITY frames per stream opened, plus one stream's worth (Envoy: 100). */
const MAX_PRIORITY_FRAMES_PER_STREAM = 100;
/** WINDOW_UPDATE frames per DATA frame we sent, plus two per stream opened (Envoy: 10). */
const MAX_WINDOW_UPDATES_PER_DATA_FRAME = 10;
/** The payload of our keepalive PINGs; the client echoes it in its ACK. */
const KEEPALIVE_PING = Buffer.from("h2grpcka", "latin1");
/** The PING of a graceful shutdown's first step, and how long its ACK is waited for (Go's http2 too). */
const DRAIN_PING = Buffer.from("h2grpcgo", "latin1");
const DRAIN_PING_MS = 1_000;

/** Received bytes we hold for unfinished requests, at most, per connection. */
const CONNECTION_WINDOW = 16 * 1024 * 1024;
/** Compressed header block (HEADERS + CONTINUATION), at most: a bound on buffering, not on headers. */
const MAX_HEADER_BLOCK = 256 * 1024;
const DEADLINE_CHECK_MS = 50;
/** A reset this long (and half its grpc-timeout) after the call opened is a client giving up, not abuse. */
const GIVING_UP_AFTER_MS = 50;
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
  private readonly streams = new StreamTable<H2Stream>();
  private readonly decoder = new HpackDecoder(F.DEFAULT_HEADER_TABLE_SIZE);
  private prefaceSeen = false;
  private leftover: Buffer | undefined;
  private out: Buffer[] = [];
  private flushScheduled = false;
  private lastPeerStreamId = 0;
  /** Set once a graceful shutdown began: its first GOAWAY is out, the final one may not be. */
  private draining = false;
  /** Until when the final GOAWAY waits for the ACK of the shutdown's PING. */
  private drainPingDeadline: number | undefined;
  /** Set once we sent the final GOAWAY: streams above it are refused. */
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
  /** Streams closed (reset by the client, or cut) whose handler is still running: they still count. */
  private orphans = 0;
  /** Streams whose request ended in this read, handed to the server once the read is parsed. */
  private ready: H2Stream[] = [];
  // Timeouts, checked by one timer per connection (see schedule).
  private readonly createdAt = Date.now();
  private lastReceivedAt = this.createdAt;
  private lastStreamAt = this.createdAt;
  private pingSentAt: number | undefined;
  private readonly ageDeadline: number | undefined;
  private graceDeadline: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  // Flood accounting.
  private unsentControl = 0;
  private emptyFrames = 0;
  private inboundStreams = 0;
  private priorityFrames = 0;
  private windowUpdates = 0;
  private outboundDataFrames = 0;
  private resetWindowStart = this.createdAt;
  private resetsThisWindow = 0;
  private resetsLastWindow = 0;
  onClose: (() => void) | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly options: ConnectionOptions,
  ) {
    // One whole request fits the stream window, so a unary call never waits for WINDOW_UPDATE.
    this.streamWindow = Math.min(F.MAX_WINDOW, options.maxRequestBytes + 1024);
    socket.setNoDelay(true);
    socket.on("data", (chunk: Buffer) => this.receive(chunk));
    socket.on("drain", () => {
      this.unsentControl = 0;
      socket.resume();
    });
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
    if (options.maxConnectionAgeMs > 0)
      this.ageDeadline = this.createdAt + options.maxConnectionAgeMs * (0.9 + 0.2 * Math.random());
    this.schedule();
  }

  /** Calls in flight: open streams, and closed ones whose handler has not finished. */
  get activeStreams(): number {
    return this.streams.size + this.orphans;
  }

  /**
   * Graceful shutdown in two steps (RFC 9113 6.8): a GOAWAY that refuses nothing, and a PING. Streams
   * the client opened before it heard are still taken; once the PING's ACK is back (they have all
   * arrived), or after DRAIN_PING_MS, the final GOAWAY names the last stream taken and newer ones are
   * refused. A one-step GOAWAY would refuse calls already on the wire, and Envoy does not retry a
   * refused check. The socket ends once the open streams finish.
   */
  drain(): void {
    if (this.closed || this.draining) return;
    this.draining = true;
    this.queue(F.goaway(F.MAX_STREAM_ID, F.NO_ERROR));
    this.queue(F.frame(F.PING, 0, 0, DRAIN_PING));
    this.drainPingDeadline = Date.now() + DRAIN_PING_MS;
    this.schedule();
  }

  /** The shutdown's second step: the final GOAWAY. */
  private finishDrain(): void {
    this.draining = true;
    this.drainPingDeadline = undefined;
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
    this.outboundDataFrames++;
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
      this.outboundDataFrames++;
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
    this.streams.delete(stream);
    if (stream.running) this.orphans++;
    else if (this.streams.size === 0) this.lastStreamAt = Date.now();
    this.blocked.delete(stream);
    this.release(stream.bodyLength);
    stream.chunks = [];
    if (cancelled) stream.cancel();
    this.endIfIdle();
  }

  private endIfIdle(): void {
    if (this.goawayLastId !== undefined && this.streams.size === 0 && !this.closed) {
      this.flush();
      this.socket.end();
      // A client that never closes its side does not keep the socket.
      setTimeout(() => this.socket.destroy(), 1_000).unref();
    }
  }

  /** The server's handler for a stream has finished (answered or not). */
  handlerDone(stream: H2Stream): void {
    stream.running = false;
    if (stream.closed && --this.orphans === 0 && this.streams.size === 0) this.lastStreamAt = Date.now();
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
    if (this.socket.writableLength === 0) this.unsentControl = 0;
  }

  /** A frame we owe the client (an ACK, a reset): a client that does not read them is a flood. */
  private control(bytes: Buffer): void {
    if (++this.unsentControl > MAX_OUTBOUND_CONTROL_FRAMES)
      throw new ConnectionError(F.ENHANCE_YOUR_CALM, "too many control frames the client does not read");
    this.queue(bytes);
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
    this.lastReceivedAt = Date.now();
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
    if (this.ready.length > 0) this.dispatch();
  }

  /**
   * Requests completed by this read go to the server after the whole read is parsed: one reset in
   * the same read (rapid reset, CVE-2023-44487) means its handler never starts.
   */
  private dispatch(): void {
    const ready = this.ready;
    this.ready = [];
    for (const stream of ready) if (!stream.closed) this.options.received(stream);
  }

  private handleFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    if (this.headerBlock && type !== F.CONTINUATION)
      throw new ConnectionError(F.PROTOCOL_ERROR, "a header block was interrupted");
    if (type === F.DATA || type === F.HEADERS || type === F.CONTINUATION) {
      if (!(flags & F.END_STREAM) && contentLength(type, flags, payload) === 0) {
        if (++this.emptyFrames > MAX_CONSECUTIVE_EMPTY_FRAMES)
          throw new ConnectionError(F.ENHANCE_YOUR_CALM, "too many frames without content in a row");
      } else this.emptyFrames = 0;
    }
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
        if (++this.priorityFrames > MAX_PRIORITY_FRAMES_PER_STREAM * (1 + this.inboundStreams))
          throw new ConnectionError(F.ENHANCE_YOUR_CALM, "too many PRIORITY frames");
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
        if (!(flags & F.ACK)) this.control(F.frame(F.PING, F.ACK, 0, payload));
        else if (payload.equals(KEEPALIVE_PING)) this.pingSentAt = undefined;
        else if (payload.equals(DRAIN_PING)) this.finishDrain();
        return;
      case F.GOAWAY:
        if (streamId !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, "GOAWAY on a stream");
        // The client is leaving and opens nothing more: finish what is open, in one step.
        this.finishDrain();
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
    this.inboundStreams++;
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
    // Handlers still running for reset streams count: resets do not make room (CVE-2023-44487).
    if (
      this.goawayLastId !== undefined ||
      this.streams.size + this.orphans >= this.options.maxConcurrentStreams
    ) {
      this.streamError(streamId, F.REFUSED_STREAM);
      return;
    }
    const path = requestPath(headers);
    if (path === undefined) {
      this.streamError(streamId, F.PROTOCOL_ERROR);
      return;
    }
    const stream = new H2Stream(streamId, headers, path, this, this.peerInitialWindow, this.streamWindow);
    this.streams.add(stream);
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
      for (const stream of this.streams.list()) {
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
    this.ready.push(stream);
  }

  private onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) throw new ConnectionError(F.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    if (payload.length !== 4) throw new ConnectionError(F.FRAME_SIZE_ERROR, "RST_STREAM of the wrong size");
    if (streamId > this.lastPeerStreamId)
      throw new ConnectionError(F.PROTOCOL_ERROR, "RST_STREAM on an idle stream");
    const stream = this.streams.get(streamId);
    // Only a reset that cancels work counts. A stream already closed costs nothing; nor does a client
    // giving up at its deadline: Envoy's ext_authz cancels at its timeout (200 ms), and a stalled
    // dependency must not get Envoy's connection closed for too many resets. Resets right after the
    // request, the attack, still count, whatever grpc-timeout the attacker sends.
    if (!stream) return;
    if (!givingUp(stream, Date.now())) this.countReset();
    this.closeStream(stream, true);
  }

  /**
   * Resets in a sliding window (the last whole window weighted by how much of it still overlaps,
   * plus this one): a client resetting streams faster than the limit is a rapid-reset attack.
   */
  private countReset(): void {
    const now = Date.now();
    const window = this.options.resetWindowMs;
    const elapsed = now - this.resetWindowStart;
    if (elapsed >= window) {
      this.resetsLastWindow = elapsed >= 2 * window ? 0 : this.resetsThisWindow;
      this.resetsThisWindow = 0;
      this.resetWindowStart = elapsed >= 2 * window ? now : this.resetWindowStart + window;
    }
    this.resetsThisWindow++;
    const overlap = 1 - (now - this.resetWindowStart) / window;
    if (this.resetsLastWindow * overlap + this.resetsThisWindow > this.options.maxResetsPerWindow)
      throw new ConnectionError(F.ENHANCE_YOUR_CALM, "too many stream resets");
  }

  private onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) throw new ConnectionError(F.PROTOCOL_ERROR, "SETTINGS on a stream");
    if (flags & F.ACK) {
      if (payload.length !== 0) throw new ConnectionError(F.FRAME_SIZE_ERROR, "SETTINGS ACK with a payload");
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(F.FRAME_SIZE_ERROR, "SETTINGS of the wrong size");
    if (payload.length / 6 > MAX_SETTINGS_ENTRIES)
      throw new ConnectionError(F.ENHANCE_YOUR_CALM, "too many entries in one SETTINGS frame");
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const value = payload.readUInt32BE(i + 2);
      if (id === F.SETTINGS_ENABLE_PUSH && value > 1)
        throw new ConnectionError(F.PROTOCOL_ERROR, "SETTINGS_ENABLE_PUSH above 1");
      if (id === F.SETTINGS_INITIAL_WINDOW_SIZE) {
        if (value > F.MAX_WINDOW) throw new ConnectionError(F.FLOW_CONTROL_ERROR, "initial window too large");
        const delta = value - this.peerInitialWindow;
        this.peerInitialWindow = value;
        for (const stream of this.streams.list()) stream.sendWindow += delta;
      }
      if (id === F.SETTINGS_MAX_FRAME_SIZE) {
        if (value < F.DEFAULT_MAX_FRAME_SIZE || value > F.MAX_FRAME_SIZE_LIMIT)
          throw new ConnectionError(F.PROTOCOL_ERROR, "SETTINGS_MAX_FRAME_SIZE out of range");
        this.peerMaxFrameSize = value;
      }
      // Our answers use no dynamic table, so the client's HEADER_TABLE_SIZE needs nothing from us.
    }
    this.control(F.SETTINGS_ACK);
    this.unblock();
  }

  private onWindowUpdate(streamId: number, payload: Buffer): void {
    if (payload.length !== 4)
      throw new ConnectionError(F.FRAME_SIZE_ERROR, "WINDOW_UPDATE of the wrong size");
    const increment = payload.readUInt32BE(0) & F.MAX_WINDOW;
    if (
      ++this.windowUpdates >
      1 + 2 * (this.inboundStreams + MAX_WINDOW_UPDATES_PER_DATA_FRAME * this.outboundDataFrames)
    )
      throw new ConnectionError(F.ENHANCE_YOUR_CALM, "too many WINDOW_UPDATE frames");
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
    this.countReset();
    this.control(F.rstStream(streamId, code));
  }

  private resetStream(stream: H2Stream, code: number): void {
    this.streamError(stream.id, code);
    this.closeStream(stream, true);
  }

  private fail(err: unknown): void {
    const code = err instanceof ConnectionError ? err.code : F.INTERNAL_ERROR;
    const message = err instanceof Error ? err.message : String(err);
    this.options.connectionError?.(message);
    this.terminate(code, message);
  }

  /** GOAWAY with the code, then the connection ends; whatever is open is cut. */
  private terminate(code: number, message: string): void {
    if (this.closed) return;
    this.out.push(F.goaway(this.lastPeerStreamId, code, message));
    this.flush();
    this.closed = true;
    this.socket.end();
    this.closeAll();
    // A client that never closes its side does not keep the socket.
    setTimeout(() => this.socket.destroy(), 1_000).unref();
  }

  // --- timeouts ---

  /** Sets the one timer for the nearest of the preface, idle, keepalive and age deadlines. */
  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed) return;
    const o = this.options;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    if (!this.prefaceSeen) next = this.createdAt + o.prefaceTimeoutMs;
    // While streams are open, idleness is looked at again a whole timeout later.
    if (o.idleTimeoutMs > 0 && !this.draining)
      next = Math.min(next, (this.isIdle() ? this.lastStreamAt : now) + o.idleTimeoutMs);
    if (this.drainPingDeadline !== undefined) next = Math.min(next, this.drainPingDeadline);
    if (o.keepaliveIntervalMs > 0)
      next = Math.min(
        next,
        this.pingSentAt === undefined
          ? this.lastReceivedAt + o.keepaliveIntervalMs
          : this.pingSentAt + o.keepaliveTimeoutMs,
      );
    if (this.ageDeadline !== undefined) next = Math.min(next, this.graceDeadline ?? this.ageDeadline);
    if (next === Number.POSITIVE_INFINITY) return;
    this.timer = setTimeout(() => this.tick(), Math.max(10, next - now));
    this.timer.unref();
  }

  private isIdle(): boolean {
    return this.streams.size === 0 && this.orphans === 0;
  }

  private tick(): void {
    this.timer = undefined;
    if (this.closed) return;
    const o = this.options;
    const now = Date.now();
    if (!this.prefaceSeen && now >= this.createdAt + o.prefaceTimeoutMs) {
      this.terminate(F.NO_ERROR, "no connection preface in time");
      return;
    }
    if (this.graceDeadline !== undefined && now >= this.graceDeadline) {
      this.terminate(F.NO_ERROR, "maximum connection age");
      return;
    }
    if (this.ageDeadline !== undefined && this.graceDeadline === undefined && now >= this.ageDeadline) {
      this.graceDeadline = now + o.maxConnectionAgeGraceMs;
      this.drain();
    }
    if (this.drainPingDeadline !== undefined && now >= this.drainPingDeadline) this.finishDrain();
    if (
      o.idleTimeoutMs > 0 &&
      !this.draining &&
      this.isIdle() &&
      now >= this.lastStreamAt + o.idleTimeoutMs
    ) {
      this.drain();
      return;
    }
    if (o.keepaliveIntervalMs > 0) {
      if (this.pingSentAt !== undefined && now >= this.pingSentAt + o.keepaliveTimeoutMs) {
        this.terminate(F.NO_ERROR, "keepalive PING not acknowledged");
        return;
      }
      if (this.pingSentAt === undefined && now >= this.lastReceivedAt + o.keepaliveIntervalMs) {
        this.pingSentAt = now;
        this.queue(F.frame(F.PING, 0, 0, KEEPALIVE_PING));
      }
    }
    this.schedule();
  }

  private closeAll(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.ready = [];
    this.stopDeadlines();
    for (const stream of this.streams.list()) this.closeStream(stream, true);
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

/** A DATA, HEADERS or CONTINUATION frame's payload without padding and priority fields. */
function contentLength(type: number, flags: number, payload: Buffer): number {
  if (type === F.CONTINUATION) return payload.length;
  let length = payload.length;
  if (flags & F.PADDED) length -= 1 + (payload[0] ?? 0);
  if (type === F.HEADERS && flags & F.PRIORITY) length -= 5;
  return length;
}

function headerListSize(headers: HeaderList): number {
  let size = 0;
  for (const [name, value] of headers) size += name.length + value.length + 32;
  return size;
}

/** The client reset a call after waiting at least half its grpc-timeout (and GIVING_UP_AFTER_MS). */
function givingUp(stream: H2Stream, now: number): boolean {
  if (stream.deadline === undefined || stream.timeoutMs === undefined) return false;
  const waited = now - (stream.deadline - stream.timeoutMs);
  return waited >= GIVING_UP_AFTER_MS && waited >= stream.timeoutMs / 2;
}
