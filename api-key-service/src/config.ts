import { duration, flag, internalToken, parseConfig, port, redisUrl, url } from "@gateway/common";
import { z } from "zod";
import { KEY_PREFIX_PATTERN } from "./keys/key-format.js";

const positiveLimit = (fallback: number) =>
  z.coerce.number().int().min(1).max(1_000_000_000).default(fallback);

/** A duration where 0s turns the thing off. */
const offOrAtLeastASecond = (fallback: string) =>
  duration(fallback).refine((ms) => ms === 0 || ms >= 1_000, "must be 0s (off) or at least 1s");

const headerName = (fallback: string) =>
  z
    .string()
    .regex(/^[a-z0-9!#$%&'*+.^_`|~-]+$/, "must be a lower-case HTTP header name")
    .default(fallback);

const schema = z.object({
  DATABASE_URL: url(["postgres:", "postgresql:"]),
  REDIS_URL: redisUrl(),
  ADMIN_TOKEN: z.string().min(32, "must be at least 32 characters (generate one with: openssl rand -hex 32)"),
  HTTP_PORT: port(8080),
  GRPC_PORT: port(9001),
  /** The forward-auth decision endpoint for HTTP gateways (docs/AUTHZ.md); 0 picks a free port. */
  AUTH_HTTP_PORT: port(9003),
  /** Set: the gRPC and forward-auth ports answer only calls carrying it as x-gateway-token (docs/SECURITY.md). */
  INTERNAL_TOKEN: internalToken(),
  HOST: z.string().default("0.0.0.0"),
  KEY_PREFIX: z
    .string()
    .regex(KEY_PREFIX_PATTERN, "must be lower-case letters and digits, like gw or acme_live")
    .refine((v) => v !== "gwm", "gwm is the management keys' prefix; choose another")
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
  ADMIN_AUTH_MAX_FAILURES: z.coerce.number().int().min(1).max(100).default(10),
  ADMIN_AUTH_FAILURE_WINDOW: duration("1m").refine((ms) => ms >= 1_000, "must be at least 1s"),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  SHUTDOWN_TIMEOUT: duration("10s"),
  // ext_authz
  REDIS_KEY_PREFIX: z.string().max(64).default("gw:"),
  RATE_LIMIT_FAILURE_MODE: z.enum(["open", "closed"], { message: "must be open or closed" }).default("open"),
  AUTHORIZATION_HEADER: headerName("authorization"),
  API_KEY_HEADER: headerName("x-api-key"),
  REMOVE_CREDENTIAL_HEADERS: flag(true),
  KEY_CACHE_SIZE: z.coerce.number().int().min(100).max(10_000_000).default(100_000),
  KEY_CACHE_TTL: duration("5m"),
  /** Keys used within this long before a start are cached before the ports open; 0s turns it off. */
  KEY_CACHE_PREWARM: offOrAtLeastASecond("24h"),
  NEGATIVE_CACHE_TTL: duration("5s"),
  REDIS_TIMEOUT: duration("100ms"),
  /** The limiter's Redis client: its own connection, or ioredis as the fallback (docs/AUTHZ.md). */
  REDIS_LIMITER_CLIENT: z.enum(["own", "ioredis"], { message: "must be own or ioredis" }).default("own"),
  /** Hot keys' checks are admitted from units leased from Redis ahead of them (docs/AUTHZ.md). */
  RATE_LIMIT_LEASES: flag(false),
  KEY_LOOKUP_TIMEOUT: duration("100ms"),
  AUTHZ_FLUSH_INTERVAL: duration("5s"),
  /** Refuse (403 billing_required) keys whose account has no Stripe customer to bill. */
  REQUIRE_BILLING_CUSTOMER: flag(false),
  // gRPC server (docs/AUTHZ.md): h2 (packages/h2-grpc) or grpc-js, the fallback
  GRPC_SERVER: z.enum(["h2", "grpc-js"], { message: "must be h2 or grpc-js" }).default("h2"),
  /** How Check reads Envoy's CheckRequest: the reader of what it uses, or protobufjs, the fallback. */
  CHECK_REQUEST_DECODER: z
    .enum(["wire", "protobufjs"], { message: "must be wire or protobufjs" })
    .default("wire"),
  GRPC_IDLE_TIMEOUT: offOrAtLeastASecond("2h"),
  GRPC_KEEPALIVE_INTERVAL: offOrAtLeastASecond("2m"),
  GRPC_MAX_CONNECTION_AGE: offOrAtLeastASecond("0s"),
  // webhooks
  /** Hosts a webhook may reach whatever they resolve to (loopback, private…); comma-separated. */
  WEBHOOK_ALLOWED_HOSTS: z
    .string()
    .default("")
    .transform((v) =>
      v
        .split(",")
        .map((h) => h.trim())
        .filter(Boolean),
    ),
  WEBHOOK_TIMEOUT: duration("10s").refine((ms) => ms >= 100 && ms <= 60_000, "must be from 100ms to 60s"),
  WEBHOOK_POLL_INTERVAL: duration("1s").refine((ms) => ms >= 10, "must be at least 10ms"),
  WEBHOOK_CONCURRENCY: z.coerce.number().int().min(1).max(100).default(10),
  WEBHOOK_RETRY_BASE: duration("5s").refine((ms) => ms >= 10, "must be at least 10ms"),
  WEBHOOK_RETRY_MAX: duration("1h").refine((ms) => ms >= 10, "must be at least 10ms"),
  WEBHOOK_RETRY_FOR: duration("24h"),
  QUOTA_ALERT_FLUSH_INTERVAL: duration("200ms").refine((ms) => ms >= 10, "must be at least 10ms"),
  // Stripe: with a key, customer ids are checked against the account before they are stored
  STRIPE_API_KEY: z
    .string()
    .regex(/^(sk|rk)_[A-Za-z0-9_]+$/, "must be a Stripe secret or restricted key")
    .optional(),
  STRIPE_API_BASE: url(["http:", "https:"]).optional(),
  STRIPE_TIMEOUT: duration("10s"),
});

export type Config = z.infer<typeof schema>;

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  return parseConfig(schema, env);
}
