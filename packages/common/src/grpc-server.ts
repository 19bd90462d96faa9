import * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { INTERNAL_TOKEN_HEADER, type InternalTokenCheck, UNAUTHENTICATED_MESSAGE } from "./internal-token.js";

export interface GrpcService {
  addToServer(server: grpc.Server): void;
}

export interface GrpcServerOptions {
  /** Calls without the internal token end UNAUTHENTICATED before their handler runs. */
  internalToken?: InternalTokenCheck;
}

/**
 * What a unary handler may ask about its call: whether the client has gone. The same shape as
 * @gateway/h2-grpc's CallContext (the two packages do not depend on each other).
 */
export interface CallContext {
  /** The client cancelled the call or went away: no one will read the answer. */
  readonly cancelled: boolean;
  /** Aborted when the call is cancelled; made on first use, so calls that never ask pay nothing. */
  readonly signal: AbortSignal;
}

/**
 * Answers one request message (protobuf bytes) with one response message, or throws an error with a
 * numeric gRPC `code` (h2-grpc's GrpcError); any other error ends the call UNKNOWN "internal error".
 */
export type UnaryHandler = (request: Buffer, call: CallContext) => Promise<Buffer> | Buffer;

export type ServingStatus = "SERVING" | "NOT_SERVING";

/** The statuses grpc.health.v1.Health reports, by service name ("" is the server as a whole). */
export interface HealthStatuses {
  setStatus(service: string, status: ServingStatus): void;
}

/**
 * A gRPC server for unary methods on raw bytes, with the standard health service. Two implement it:
 * H2GrpcServer (@gateway/h2-grpc, api-key-service's default) and GrpcJsUnaryServer (grpc-js, the
 * fallback an operator picks with GRPC_SERVER=grpc-js); both answer the same bytes and statuses.
 */
export interface UnaryGrpcServer {
  addUnary(path: string, handler: UnaryHandler): void;
  /** Registers grpc.health.v1.Health (Check and Watch) for these services and their first statuses. */
  addHealth(initial: Record<string, ServingStatus>): HealthStatuses;
  /** Listens on host:port (0 for any free port) and resolves with the port bound. */
  listen(host: string, port: number): Promise<number>;
  /** Stops accepting, lets open calls finish for up to `timeoutMs`, then cuts the rest. */
  close(timeoutMs: number): Promise<void>;
}

export interface GrpcJsUnaryServerOptions extends GrpcServerOptions {
  /** A handler failed with something other than a gRPC status: a bug, for the log. */
  onHandlerError?: (message: string) => void;
  /** Nothing received for this long: the server PINGs (0: never); no ACK in `keepaliveTimeoutMs`: closed. */
  keepaliveIntervalMs?: number;
  keepaliveTimeoutMs?: number;
  /** No call for this long: GOAWAY (0: never). */
  idleTimeoutMs?: number;
  /** GOAWAY after this age (0: never), then `maxConnectionAgeGraceMs` for open calls. */
  maxConnectionAgeMs?: number;
  maxConnectionAgeGraceMs?: number;
}

/** grpc-js settings both servers share: Envoy's few long-lived connections carry many calls each. */
function grpcJsServer(
  internalToken: InternalTokenCheck | undefined,
  extra: grpc.ServerOptions = {},
): grpc.Server {
  return new grpc.Server({
    "grpc.max_concurrent_streams": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.max_receive_message_length": 4 * 1024 * 1024,
    interceptors: internalToken?.enabled ? [requireInternalToken(internalToken)] : [],
    ...extra,
  });
}

/**
 * A gRPC server for Envoy-facing services with the standard health service beside it: `""` and each
 * named service report SERVING once bound and NOT_SERVING while draining.
 */
export class GrpcServer {
  private readonly server: grpc.Server;
  private readonly health: HealthImplementation;

  constructor(
    services: GrpcService[],
    private readonly healthNames: string[],
    options: GrpcServerOptions = {},
  ) {
    this.health = new HealthImplementation(
      Object.fromEntries(["", ...healthNames].map((n) => [n, "NOT_SERVING"])),
    );
    this.server = grpcJsServer(options.internalToken);
    for (const service of services) service.addToServer(this.server);
    this.health.addToServer(this.server);
  }

  async start(host: string, port: number): Promise<number> {
    const bound = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, actual) =>
        err ? reject(err) : resolve(actual),
      );
    });
    for (const name of ["", ...this.healthNames]) this.health.setStatus(name, "SERVING");
    return bound;
  }

  /** Reports NOT_SERVING, lets in-flight calls finish for up to `timeoutMs`, then cuts the rest. */
  async stop(timeoutMs: number): Promise<void> {
    for (const name of ["", ...this.healthNames]) this.health.setStatus(name, "NOT_SERVING");
    await shutdown(this.server, timeoutMs);
  }
}

const raw = (bytes: Buffer) => bytes;

/**
 * UnaryGrpcServer on grpc-js: api-key-service's fallback for Envoy's ext_authz Check. Messages pass
 * through as bytes, so a service's handler is the same on either server.
 */
export class GrpcJsUnaryServer implements UnaryGrpcServer {
  private readonly server: grpc.Server;

  constructor(private readonly options: GrpcJsUnaryServerOptions = {}) {
    const extra: grpc.ServerOptions = {};
    if (options.keepaliveIntervalMs) extra["grpc.keepalive_time_ms"] = options.keepaliveIntervalMs;
    if (options.keepaliveTimeoutMs) extra["grpc.keepalive_timeout_ms"] = options.keepaliveTimeoutMs;
    if (options.idleTimeoutMs) extra["grpc.max_connection_idle_ms"] = options.idleTimeoutMs;
    if (options.maxConnectionAgeMs) {
      extra["grpc.max_connection_age_ms"] = options.maxConnectionAgeMs;
      extra["grpc.max_connection_age_grace_ms"] = options.maxConnectionAgeGraceMs ?? 10_000;
    }
    this.server = grpcJsServer(options.internalToken, extra);
  }

  addUnary(path: string, handler: UnaryHandler): void {
    const onHandlerError = this.options.onHandlerError;
    this.server.register<Buffer, Buffer>(
      path,
      (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
        const fail = (err: unknown) => {
          const code = (err as { code?: unknown } | null)?.code;
          if (err instanceof Error && typeof code === "number" && code > 0 && code <= 16) {
            callback({ code, details: err.message });
            return;
          }
          onHandlerError?.(`${path}: ${err instanceof Error ? err.message : String(err)}`);
          callback({ code: grpc.status.UNKNOWN, details: "internal error" });
        };
        try {
          const answer = handler(call.request, callContext(call));
          if (Buffer.isBuffer(answer)) callback(null, answer);
          else answer.then((message) => callback(null, message), fail);
        } catch (err) {
          fail(err);
        }
      },
      raw,
      raw,
      "unary",
    );
  }

  addHealth(initial: Record<string, ServingStatus>): HealthStatuses {
    const health = new HealthImplementation(initial);
    health.addToServer(this.server);
    return health;
  }

  listen(host: string, port: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      this.server.bindAsync(`${host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, actual) =>
        err ? reject(err) : resolve(actual),
      );
    });
  }

  close(timeoutMs: number): Promise<void> {
    return shutdown(this.server, timeoutMs);
  }
}

/** The call's cancellation, read from grpc-js's call; the AbortSignal is made only if asked for. */
function callContext(call: grpc.ServerUnaryCall<Buffer, Buffer>): CallContext {
  let controller: AbortController | undefined;
  return {
    get cancelled() {
      return call.cancelled;
    },
    get signal() {
      if (!controller) {
        const made = new AbortController();
        controller = made;
        if (call.cancelled) made.abort();
        else call.once("cancelled", () => made.abort());
      }
      return controller.signal;
    },
  };
}

/** tryShutdown, and forceShutdown what is still open after the timeout. */
function shutdown(server: grpc.Server, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, timeoutMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * Checks the metadata as it arrives, before the handler starts: a refused client-streaming call
 * (the access log) ends with UNAUTHENTICATED before any of its messages is read.
 */
function requireInternalToken(check: InternalTokenCheck): grpc.ServerInterceptor {
  return (method, call) =>
    new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            if (check.allows(method.path, metadata.get(INTERNAL_TOKEN_HEADER))) pass(metadata);
            else call.sendStatus({ code: grpc.status.UNAUTHENTICATED, details: UNAUTHENTICATED_MESSAGE });
          },
        }),
    });
}
