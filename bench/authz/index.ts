/**
 * What the ext_authz benchmark offers other load tools (the soak): a bench database seeded with
 * keys, the service as a measured process, Check requests and probes, the load generator, Redis
 * statistics. The process harness itself is @gateway/harness.
 */
export { checkRequestFor, encodeCheckRequest, writeBodies } from "./check-request.js";
export { createBenchDatabase, dropBenchDatabase, migrateBenchDatabase, seedKeys } from "./database.js";
export type { Failures, GeneratorResult } from "./generator-protocol.js";
export { runGenerator } from "./launch.js";
export { describeProbe, isAllowed, type ProbeResult, probeCheck } from "./probe.js";
export { RedisInfo } from "./redis-stats.js";
export { type ServiceTarget, startService } from "./service.js";
export { connectAndDescribe, seedBenchDatabase, startBenchService } from "./setup.js";
