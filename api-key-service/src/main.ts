import type { Server } from "node:http";
import { createLogger, createRedisClient, type Logger } from "@gateway/common";
import { createDb, migrateToLatest } from "@gateway/db";
import { sql } from "kysely";
import { collectDefaultMetrics, Registry } from "prom-client";
import { AuditService } from "./audit/audit.service.js";
import type { Config } from "./config.js";
import { createHttpApp } from "./http/app.js";
import { KeyFormat } from "./keys/key-format.js";
import { KeyService } from "./keys/keys.service.js";
import { UserService } from "./users/users.service.js";

export interface Service {
  /** Runs migrations (unless turned off) and binds the ports; resolves once listening. */
  start(): Promise<{ httpPort: number }>;
  /** Stops accepting, drains in-flight requests, then closes Redis and the pool. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  logger?: Logger;
  /** Key prefix for every Redis key this instance writes; tests isolate themselves with it. */
  redisKeyPrefix?: string;
}

/** The composition root: plain constructors, no container, no module-level state. */
export function createService(config: Config, options: ServiceOptions = {}): Service {
  const logger = options.logger ?? createLogger({ service: "api-key-service", level: config.LOG_LEVEL });
  const db = createDb({
    url: config.DATABASE_URL,
    onError: (err) => logger.warn({ err: err.message }, "postgres idle client error"),
  });
  const redis = createRedisClient({
    url: config.REDIS_URL,
    keyPrefix: options.redisKeyPrefix,
    onError: (err) => logger.warn({ err: err.message }, "redis error"),
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const format = new KeyFormat(config.KEY_PREFIX);
  const app = createHttpApp({
    adminToken: config.ADMIN_TOKEN,
    corsOrigins: config.CORS_ORIGINS,
    trustProxy: config.TRUST_PROXY,
    logger,
    registry,
    keys: new KeyService(db, format, { rotationGraceMs: config.KEY_ROTATION_GRACE }),
    users: new UserService(db),
    audit: new AuditService(db),
    readiness: {
      postgres: () => sql`select 1`.execute(db),
      redis: () => redis.ping(),
    },
  });

  let server: Server | undefined;

  return {
    async start() {
      if (config.MIGRATE_ON_START) {
        const applied = await migrateToLatest(db);
        if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.migrationName) }, "migrated");
      }
      const listening = app.listen(config.HTTP_PORT, config.HOST);
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once("listening", resolve);
        listening.once("error", reject);
      });
      const address = listening.address();
      const httpPort = typeof address === "object" && address ? address.port : config.HTTP_PORT;
      logger.info({ http_port: httpPort, key_prefix: config.KEY_PREFIX }, "api-key-service listening");
      return { httpPort };
    },

    async stop() {
      if (server) await closeServer(server, config.SHUTDOWN_TIMEOUT);
      redis.disconnect();
      await db.destroy();
    },
  };
}

/** Stops accepting, lets in-flight requests finish, and cuts what is left after the timeout. */
function closeServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
