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
    this.server = new grpc.Server({
      // Envoy keeps few, long-lived HTTP/2 connections; let them carry many concurrent calls.
      "grpc.max_concurrent_streams": 10_000,
      "grpc.keepalive_permit_without_calls": 1,
      "grpc.max_receive_message_length": 4 * 1024 * 1024,
      interceptors: options.internalToken?.enabled ? [requireInternalToken(options.internalToken)] : [],
    });
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
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, timeoutMs);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
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
