import net from "node:net";
import { type ConnectionOptions, ServerConnection } from "./connection.js";
import { GrpcError, Status } from "./grpc-wire.js";
import { HealthService, type ServingStatus } from "./health.js";
import type { HeaderList } from "./hpack.js";
import type { CallContext, H2Stream } from "./stream.js";

/**
 * Answers one request message with one response message, or throws a GrpcError. `call` tells
 * whether the client has cancelled; the call counts as in flight until the handler finishes.
 */
export type UnaryHandler = (request: Buffer, call: CallContext) => Promise<Buffer> | Buffer;

/** Server streaming: send headers, messages and the end through `call`; see H2Stream. */
export type ServerStreamHandler = (request: Buffer, call: H2Stream) => void;

type Route =
  | { kind: "unary"; handler: UnaryHandler }
  | { kind: "server-stream"; handler: ServerStreamHandler };

export interface H2GrpcServerOptions {
  maxConcurrentStreams?: number;
  /** Largest request message; larger ones are refused with RESOURCE_EXHAUSTED. */
  maxMessageBytes?: number;
  maxHeaderListSize?: number;
  /** A handler failed with something other than a GrpcError: a bug, for the log. */
  onHandlerError?: (message: string) => void;
  /** A client broke the protocol and its connection was closed: the client's mistake. */
  onConnectionError?: (message: string) => void;
  /**
   * Whether a call to a known method may proceed, from its path and request headers. A refused call
   * is answered UNAUTHENTICATED (trailers-only) as soon as its headers arrive, before its message.
   */
  authenticate?: (path: string, headers: HeaderList) => boolean;
  /** The grpc-message of that answer. */
  unauthenticatedMessage?: string;
  /** Timeouts and the reset limit of each connection; see CONNECTION_DEFAULTS. */
  prefaceTimeoutMs?: number;
  idleTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
  maxConnectionAgeMs?: number;
  maxConnectionAgeGraceMs?: number;
  maxResetsPerWindow?: number;
  resetWindowMs?: number;
}

/**
 * Per-connection defaults. Envoy, the one client in production, keeps few long-lived connections to
 * ext_authz, closes one after an hour without requests (its upstream idle_timeout) and PINGs every
 * 30 s (envoy.yaml's connection_keepalive); so our idle timeout is longer than Envoy's, and Envoy
 * always leaves first, never racing our GOAWAY with a new check.
 */
export const CONNECTION_DEFAULTS: Required<Pick<H2GrpcServerOptions, ConnectionSetting>> = {
  prefaceTimeoutMs: 5_000,
  idleTimeoutMs: 2 * 60 * 60_000,
  keepaliveIntervalMs: 2 * 60_000,
  keepaliveTimeoutMs: 20_000,
  maxConnectionAgeMs: 0,
  maxConnectionAgeGraceMs: 10_000,
  // nghttp2 allows a burst of 1000 RST_STREAMs, then 33 a second.
  maxResetsPerWindow: 1_000,
  resetWindowMs: 10_000,
};

type ConnectionSetting =
  | "prefaceTimeoutMs"
  | "idleTimeoutMs"
  | "keepaliveIntervalMs"
  | "keepaliveTimeoutMs"
  | "maxConnectionAgeMs"
  | "maxConnectionAgeGraceMs"
  | "maxResetsPerWindow"
  | "resetWindowMs";

const GRPC_TIMEOUT_UNITS: Record<string, number> = {
  H: 3_600_000,
  M: 60_000,
  S: 1_000,
  m: 1,
  u: 1e-3,
  n: 1e-6,
};

/**
 * A gRPC server for unary and server-streaming calls on plain HTTP/2 (ServerConnection). Services
 * register handlers by method path; requests and answers are protobuf bytes, so a service decodes
 * and encodes with whatever serializer it already has.
 */
export class H2GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly connections = new Set<ServerConnection>();
  private readonly options: H2GrpcServerOptions &
    typeof CONNECTION_DEFAULTS & {
      maxConcurrentStreams: number;
      maxMessageBytes: number;
      maxHeaderListSize: number;
    };
  private server: net.Server | undefined;

  constructor(options: H2GrpcServerOptions = {}) {
    this.options = {
      ...CONNECTION_DEFAULTS,
      maxConcurrentStreams: options.maxConcurrentStreams ?? 10_000,
      maxMessageBytes: options.maxMessageBytes ?? 4 * 1024 * 1024,
      maxHeaderListSize: options.maxHeaderListSize ?? 16 * 1024,
      // An option given as undefined keeps its default.
      ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)),
    };
  }

  addUnary(path: string, handler: UnaryHandler): void {
    this.routes.set(path, { kind: "unary", handler });
  }

  addServerStream(path: string, handler: ServerStreamHandler): void {
    this.routes.set(path, { kind: "server-stream", handler });
  }

  /** Registers grpc.health.v1.Health for these services and their first statuses. */
  addHealth(initial: Record<string, ServingStatus>): HealthService {
    const health = new HealthService(initial);
    health.addToServer(this);
    return health;
  }

  /** Listens on host:port (0 for any free port) and resolves with the port bound. */
  listen(host: string, port: number): Promise<number> {
    const connectionOptions: ConnectionOptions = {
      maxConcurrentStreams: this.options.maxConcurrentStreams,
      maxRequestBytes: this.options.maxMessageBytes + 5,
      maxHeaderListSize: this.options.maxHeaderListSize,
      maxMessageBytes: this.options.maxMessageBytes,
      opened: (stream) => this.opened(stream),
      received: (stream) => this.received(stream),
      connectionError: this.options.onConnectionError,
      prefaceTimeoutMs: this.options.prefaceTimeoutMs,
      idleTimeoutMs: this.options.idleTimeoutMs,
      keepaliveIntervalMs: this.options.keepaliveIntervalMs,
      keepaliveTimeoutMs: this.options.keepaliveTimeoutMs,
      maxConnectionAgeMs: this.options.maxConnectionAgeMs,
      maxConnectionAgeGraceMs: this.options.maxConnectionAgeGraceMs,
      maxResetsPerWindow: this.options.maxResetsPerWindow,
      resetWindowMs: this.options.resetWindowMs,
    };
    const server = net.createServer({ noDelay: true }, (socket) => {
      const connection = new ServerConnection(socket, connectionOptions);
      this.connections.add(connection);
      connection.onClose = () => this.connections.delete(connection);
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : port);
      });
    });
  }

  /** Stops accepting, sends GOAWAY, lets open calls finish for up to `timeoutMs`, then cuts the rest. */
  async close(timeoutMs: number): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const connection of this.connections) connection.drain();
    const timer = setTimeout(() => {
      for (const connection of this.connections) connection.destroy();
    }, timeoutMs);
    await closed;
    clearTimeout(timer);
  }

  private opened(stream: H2Stream): void {
    if (stream.header(":method") !== "POST") {
      stream.refuseHttp(405);
      return;
    }
    if (!stream.header("content-type")?.startsWith("application/grpc")) {
      stream.refuseHttp(415);
      return;
    }
    const route = this.routes.get(stream.path);
    if (!route) {
      stream.end(Status.UNIMPLEMENTED, `unknown method ${stream.path}`);
      return;
    }
    if (this.options.authenticate && !this.options.authenticate(stream.path, stream.headers)) {
      stream.end(Status.UNAUTHENTICATED, this.options.unauthenticatedMessage ?? "unauthenticated");
      return;
    }
    stream.route = route;
    const timeout = stream.header("grpc-timeout");
    if (timeout !== undefined) {
      const ms = parseTimeout(timeout);
      if (ms === undefined) {
        stream.end(Status.INTERNAL, `malformed grpc-timeout "${timeout}"`);
        return;
      }
      stream.deadline = Date.now() + ms;
      stream.timeoutMs = ms;
    }
  }

  private received(stream: H2Stream): void {
    let request: Buffer;
    try {
      request = singleMessage(stream);
    } catch (err) {
      this.fail(stream, err);
      return;
    }
    const route = stream.route as Route;
    if (route.kind === "server-stream") {
      try {
        route.handler(request, stream);
      } catch (err) {
        this.fail(stream, err);
      }
      return;
    }
    let answer: Promise<Buffer> | Buffer;
    try {
      answer = route.handler(request, stream);
    } catch (err) {
      this.fail(stream, err);
      return;
    }
    if (Buffer.isBuffer(answer)) {
      stream.respond(answer);
      return;
    }
    stream.running = true;
    answer.then(
      (message) => {
        stream.handlerDone();
        stream.respond(message);
      },
      (err: unknown) => {
        stream.handlerDone();
        this.fail(stream, err);
      },
    );
  }

  private fail(stream: H2Stream, err: unknown): void {
    if (err instanceof GrpcError) {
      stream.end(err.code, err.message);
      return;
    }
    this.options.onHandlerError?.(`${stream.path}: ${err instanceof Error ? err.message : String(err)}`);
    stream.end(Status.UNKNOWN, "internal error");
  }
}

/** The request's one message (unary and server-streaming calls take exactly one). */
function singleMessage(stream: H2Stream): Buffer {
  const body = stream.body();
  if (body.length < 5) throw new GrpcError(Status.INTERNAL, "no request message");
  const compressed = body[0];
  const length = body.readUInt32BE(1);
  if (body.length < 5 + length) throw new GrpcError(Status.INTERNAL, "request message cut short");
  if (body.length > 5 + length) throw new GrpcError(Status.UNIMPLEMENTED, "more than one request message");
  if (compressed === 1) {
    const encoding = stream.header("grpc-encoding");
    if (encoding === undefined || encoding === "identity")
      throw new GrpcError(Status.INTERNAL, "compressed message without a grpc-encoding");
    throw new GrpcError(Status.UNIMPLEMENTED, `grpc-encoding ${encoding} is not supported (identity only)`);
  }
  if (compressed !== 0) throw new GrpcError(Status.INTERNAL, "invalid message flags");
  return body.subarray(5);
}

/** grpc-timeout: up to 8 digits and a unit (H, M, S, m, u, n); milliseconds, or undefined if malformed. */
export function parseTimeout(value: string): number | undefined {
  const match = /^(\d{1,8})([HMSmun])$/.exec(value);
  if (!match) return undefined;
  return Number(match[1]) * (GRPC_TIMEOUT_UNITS[match[2] as string] as number);
}
