export { type ConnectionOptions, ServerConnection } from "./connection.js";
export * as frames from "./frames.js";
export { GrpcError, lengthPrefixed, percentEncode, Status } from "./grpc-wire.js";
export { HealthService, type ServingStatus } from "./health.js";
export {
  encodeIndexedField,
  encodeLiteralField,
  encodeRepeatedHeaders,
  type HeaderList,
  HpackDecoder,
  HpackError,
} from "./hpack.js";
export {
  CONNECTION_DEFAULTS,
  H2GrpcServer,
  type H2GrpcServerOptions,
  parseTimeout,
  type ServerStreamHandler,
  type UnaryHandler,
} from "./server.js";
export { type CallContext, H2Stream } from "./stream.js";
