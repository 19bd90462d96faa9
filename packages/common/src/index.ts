export { ConfigError, duration, flag, parseConfig, parseDuration, port, url } from "./config.js";
export { createLogger, type Logger } from "./logger.js";
export { createRedisClient, type Redis, type RedisClientOptions } from "./redis.js";
