import type { HeaderList } from "./hpack.js";

/** What a handler may ask about its call: whether the client has gone. */
export interface CallContext {
  /** The client reset the stream or the connection went away: no one will read the answer. */
  readonly cancelled: boolean;
  /** Aborted when the call is cancelled; made on first use, so calls that never ask pay nothing. */
  readonly signal: AbortSignal;
}

/** What a stream's connection does for it; see ServerConnection. */
export interface StreamOwner {
  handlerDone(stream: H2Stream): void;
  respond(stream: H2Stream, message: Buffer): void;
  sendHeaders(stream: H2Stream): void;
  sendMessage(stream: H2Stream, message: Buffer): void;
  finish(stream: H2Stream, code: number, message: string): void;
  refuseHttp(stream: H2Stream, status: number): void;
}

/**
 * One request stream: the request's headers and body as they arrive, and the calls that answer it.
 * Answers after the stream has closed (the client reset it, the connection went away) do nothing.
 */
export class H2Stream implements CallContext {
  /** The client ended its side; the body is complete. */
  remoteEnded = false;
  /** We sent headers (0: not yet, 1: headers sent, 2: our side ended). */
  localState: 0 | 1 | 2 = 0;
  closed = false;
  /** Request body bytes, gRPC length prefixes included. */
  chunks: Buffer[] = [];
  bodyLength = 0;
  /** How much more we may send before the client's next WINDOW_UPDATE. */
  sendWindow: number;
  /** How much more the client may send us on this stream. */
  recvWindow: number;
  /** DATA payloads and then trailers waiting for send window. */
  pending: Buffer[] | undefined;
  pendingTrailers: Buffer | undefined;
  /** The first message's length prefix has been read (and was within the limit). */
  prefixChecked = false;
  /** Date.now() by which the call must end (from grpc-timeout); the connection enforces it. */
  deadline: number | undefined;
  /** The call's grpc-timeout in milliseconds, when it sent one. */
  timeoutMs: number | undefined;
  /** Whatever the server attached when the stream opened (its route). */
  route: unknown;
  /** Called once if the stream closes before our side ended. */
  onCancel: (() => void) | undefined;
  cancelled = false;
  /** The server's handler has not finished yet: the call still counts against the stream limit. */
  running = false;
  private controller: AbortController | undefined;

  constructor(
    readonly id: number,
    readonly headers: HeaderList,
    readonly path: string,
    private readonly owner: StreamOwner,
    sendWindow: number,
    recvWindow: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.cancelled) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** The stream closed before our side ended (the connection calls this). */
  cancel(): void {
    this.cancelled = true;
    this.controller?.abort();
    this.onCancel?.();
  }

  /** The handler has finished, answered or not: the connection stops counting the call. */
  handlerDone(): void {
    this.owner.handlerDone(this);
  }

  header(name: string): string | undefined {
    for (const [n, v] of this.headers) if (n === name) return v;
    return undefined;
  }

  body(): Buffer {
    if (this.chunks.length === 1) return this.chunks[0] as Buffer;
    return Buffer.concat(this.chunks, this.bodyLength);
  }

  /** A unary answer: headers, one message, trailers with OK, written together. */
  respond(message: Buffer): void {
    this.owner.respond(this, message);
  }

  /** For server streaming: response headers, then messages, then `end`. */
  sendHeaders(): void {
    this.owner.sendHeaders(this);
  }

  sendMessage(message: Buffer): void {
    this.owner.sendMessage(this, message);
  }

  /** Ends the call with a status: as trailers, or trailers-only when nothing was sent yet. */
  end(code: number, message = ""): void {
    this.owner.finish(this, code, message);
  }

  /** An HTTP error status without gRPC framing, for requests that are not gRPC. */
  refuseHttp(status: number): void {
    this.owner.refuseHttp(this, status);
  }
}
