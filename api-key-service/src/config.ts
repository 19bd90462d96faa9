import { duration, flag, parseConfig, port, url } from "@gateway/common";
import { z } from "zod";
import { KEY_PREFIX_PATTERN } from "./keys/key-format.js";

const positiveLimit = (fallback: number) =>
  z.coerce.number().int().min(1).max(1_000_000_000).default(fallback);

const schema = z.object({
  DATABASE_URL: url(["postgres:", "postgresql:"]),
  REDIS_URL: url(["redis:", "rediss:"]),
  ADMIN_TOKEN: z.string().min(32, "must be at least 32 characters (generate one with: openssl rand -hex 32)"),
  HTTP_PORT: port(8080),
  GRPC_PORT: port(9001),
  HOST: z.string().default("0.0.0.0"),
  KEY_PREFIX: z
    .string()
    .regex(KEY_PREFIX_PATTERN, "must be lower-case letters and digits, like gw or acme_live")
    .default("gw"),
  DEFAULT_RATE_LIMIT_PER_MINUTE: positiveLimit(100),
  DEFAULT_RATE_LIMIT_PER_DAY: positiveLimit(10_000),
  KEY_ROTATION_GRACE: duration("24h"),
  MIGRATE_ON_START: flag(true),
  CORS_ORIGINS: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((o) => o.trim())
        .filter(Boolean),
    ),
  TRUST_PROXY: flag(false),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SHUTDOWN_TIMEOUT: duration("10s"),
});

export type Config = z.infer<typeof schema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(schema, env);
}
