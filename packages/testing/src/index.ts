export { freePort } from "@gateway/harness";
export { createTestDatabase, withDatabase } from "./databases.js";
export { describe, expect, type TestServices, test } from "./fixtures.js";
export { type PostgresServer, type PostgresServerOptions, startPostgresServer } from "./postgres-server.js";
export { callWithFields, grpcHeaders, grpcPrefix, type RawGrpcAnswer, rawGrpcCall } from "./raw-grpc.js";
export {
  type RedisCluster,
  type RedisClusterNode,
  type RedisClusterOptions,
  startRedisCluster,
} from "./redis-cluster.js";
export { type RedisServer, type RedisServerOptions, startRedisServer } from "./redis-server.js";
export { resolveServices } from "./services.js";
export * from "./stripe-emulator/index.js";
export {
  customerObject,
  invoiceFor,
  type SendOptions,
  type StripeEventInit,
  sendStripeEvent,
  stripeEvent,
  subscriptionFor,
  type WebhookDelivery,
} from "./stripe-emulator/webhook-events.js";
export { type ProxyMode, startTcpProxy, type TcpProxy } from "./tcp-proxy.js";
export { deliveredFields, hostileTokenFields, tokenLookalikes } from "./token-lookalikes.js";
