import {
  GrpcJsUnaryServer,
  type InternalTokenCheck,
  type Logger,
  UNAUTHENTICATED_MESSAGE,
  type UnaryGrpcServer,
} from "@gateway/common";
import { H2GrpcServer } from "@gateway/h2-grpc";

/** GRPC_SERVER and the connection settings (config.ts); durations in milliseconds, 0 for never. */
export interface GrpcServerSettings {
  kind: "h2" | "grpc-js";
  idleTimeoutMs: number;
  keepaliveIntervalMs: number;
  maxConnectionAgeMs: number;
}

/**
 * The gRPC server ext_authz and health register on: the built-in HTTP/2 server (GRPC_SERVER=h2, the
 * default) or grpc-js (GRPC_SERVER=grpc-js), the fallback an operator flips to if the built-in one
 * misbehaves. Both answer the same bytes and statuses, refuse calls without INTERNAL_TOKEN the same
 * way, and take the same connection timeouts.
 */
export function createGrpcServer(
  settings: GrpcServerSettings,
  deps: { internalToken: InternalTokenCheck; logger: Logger },
): UnaryGrpcServer {
  const { internalToken, logger } = deps;
  const { kind, ...connections } = settings;
  const onHandlerError = (message: string) => logger.error({ err: message }, "gRPC handler failed");
  if (kind === "grpc-js") return new GrpcJsUnaryServer({ internalToken, onHandlerError, ...connections });
  return new H2GrpcServer({
    onHandlerError,
    onConnectionError: (message) => logger.debug({ err: message }, "gRPC client broke the protocol"),
    ...connections,
    // Refused as the headers arrive: no key lookup, no Redis call, no count for a caller that is not Envoy.
    ...(internalToken.enabled
      ? {
          authenticate: (path, headers) => internalToken.allowsHeaders(path, headers),
          unauthenticatedMessage: UNAUTHENTICATED_MESSAGE,
        }
      : {}),
  });
}
