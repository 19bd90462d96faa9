export { ConfigError, duration, flag, parseConfig, parseDuration, port, url } from "./config.js";
export {
  type CallContext,
  GrpcJsUnaryServer,
  type GrpcJsUnaryServerOptions,
  GrpcServer,
  type GrpcServerOptions,
  type GrpcService,
  type HealthStatuses,
  type ServingStatus,
  type UnaryGrpcServer,
  type UnaryHandler,
} from "./grpc-server.js";
export {
  INTERNAL_TOKEN_HEADER,
  InternalTokenCheck,
  type InternalTokenCheckOptions,
  internalToken,
  UNAUTHENTICATED_MESSAGE,
  unauthenticatedCounter,
} from "./internal-token.js";
export { keyChangesChannel, publishKeyChange } from "./key-changes.js";
export { createLogger, type Logger } from "./logger.js";
export {
  createRedisClient,
  onceASecond,
  parseRedisUrl,
  type Redis,
  type RedisClientOptions,
  type RedisTarget,
  reconnectDelayMs,
  redisUrl,
} from "./redis.js";
export { type Runnable, runService } from "./run-service.js";
export { SerialRunner } from "./serial-runner.js";
