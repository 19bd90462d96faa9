import type { Server } from "node:http";
import { createLogger, createRedisClient, InternalTokenCheck, type Logger } from "@gateway/common";
import { createDb, migrateToLatest } from "@gateway/db";
import { sql } from "kysely";
import { collectDefaultMetrics, Registry } from "prom-client";
import { AuditService } from "./audit/audit.service.js";
import { KeyChecker } from "./authz/check-key.js";
import { CacheInvalidation } from "./authz/invalidation.js";
import { KeyCache } from "./authz/key-cache.js";
import { KeyLookup } from "./authz/key-lookup.js";
import { LocalRateLimiter } from "./authz/local-limiter.js";
import { AuthzMetrics } from "./authz/metrics.js";
import { RedisRateLimiter } from "./authz/redis-limiter.js";
import { allowedUnitsOfUser } from "./authz/usage.repository.js";
import { UsageRecorder } from "./authz/usage-recorder.js";
import { formatOnly } from "./billing/customer-directory.js";
import { StripeCustomerDirectory } from "./billing/stripe-customer-directory.js";
import type { Config } from "./config.js";
import { createForwardAuthServer } from "./forward-auth/server.js";
import { AuthorizationService } from "./grpc/authorization-service.js";
import { createGrpcServer } from "./grpc/server.js";
import { createHttpApp } from "./http/app.js";
import { KeyFormat } from "./keys/key-format.js";
import { KeySearch } from "./keys/key-search.js";
import { KeyService } from "./keys/keys.service.js";
import { ManagementKeyAuth } from "./management-keys/management-key-auth.js";
import { ManagementKeyService } from "./management-keys/management-keys.service.js";
import { PlanService } from "./plans/plans.service.js";
import { QuotaService } from "./plans/quota.service.js";
import { UsageService } from "./usage/usage.service.js";
import { UserDirectory } from "./users/user-directory.js";
import { UserService } from "./users/users.service.js";
import { AddressGuard } from "./webhooks/address-guard.js";
import { QuotaAlertQueue } from "./webhooks/quota-alert-queue.js";
import { WebhookSender } from "./webhooks/webhook-sender.js";
import { WebhookWorker } from "./webhooks/webhook-worker.js";
import { WebhookService } from "./webhooks/webhooks.service.js";

export interface Service {
  /** Runs migrations (unless turned off) and binds the ports; resolves once all three listen. */
  start(): Promise<{ httpPort: number; grpcPort: number; authHttpPort: number }>;
  /** Stops accepting, drains in-flight calls and requests, flushes counts, closes Redis and the pool. */
  stop(): Promise<void>;
}

export interface ServiceOptions {
  logger?: Logger;
}

/** Management keys are told apart from the admin token and from API keys by this prefix. */
const MANAGEMENT_KEY_PREFIX = "gwm";

/** The composition root: plain constructors, no container, no module-level state. */
export function createService(config: Config, options: ServiceOptions = {}): Service {
  const logger = options.logger ?? createLogger({ service: "api-key-service", level: config.LOG_LEVEL });
  const db = createDb({
    url: config.DATABASE_URL,
    onError: (err) => logger.warn({ err: err.message }, "postgres idle client error"),
  });
  // The check path gets its own small pool with short timeouts, so a hung Postgres cannot hold
  // lookups (or the management API's connections) for long.
  const lookupDb = createDb({
    url: config.DATABASE_URL,
    max: 4,
    connectionTimeoutMs: 500,
    queryTimeoutMs: 1_000,
    statementTimeoutMs: 1_000,
    onError: (err) => logger.warn({ err: err.message }, "postgres idle client error"),
  });
  const redisOptions = {
    url: config.REDIS_URL,
    keyPrefix: config.REDIS_KEY_PREFIX,
    onError: (err: Error) => logger.warn({ err: err.message }, "redis error"),
  };
  const redis = createRedisClient(redisOptions);
  // A lost or new quota counter is rebuilt from the units already flushed to Postgres, on the check
  // path's own pool: once per user and billing period, never in steady state.
  const quotaBaseline = (userId: string, start: number, end: number) =>
    allowedUnitsOfUser(lookupDb, userId, new Date(start), new Date(end));
  // The hot path has a connection of its own that fails fast: nothing queues while Redis is away.
  const limiter = new RedisRateLimiter({
    client: config.REDIS_LIMITER_CLIENT,
    leases: config.RATE_LIMIT_LEASES,
    url: config.REDIS_URL,
    keyPrefix: config.REDIS_KEY_PREFIX,
    timeoutMs: config.REDIS_TIMEOUT,
    onError: redisOptions.onError,
    quotaBaseline,
  });
  const subscriber = createRedisClient({ ...redisOptions, resubscribesItself: true });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new AuthzMetrics(registry);

  const format = new KeyFormat(config.KEY_PREFIX);
  const cache = new KeyCache(config.KEY_CACHE_SIZE);
  const managementKeyFormat = new KeyFormat(MANAGEMENT_KEY_PREFIX);
  const managementKeyAuth = new ManagementKeyAuth(db, {
    ttlMs: config.KEY_CACHE_TTL,
    negativeTtlMs: config.NEGATIVE_CACHE_TTL,
  });
  const invalidation = new CacheInvalidation(
    redis,
    subscriber,
    cache,
    logger,
    config.REDIS_KEY_PREFIX,
    managementKeyAuth,
  );
  const usage = new UsageRecorder(db, metrics, logger, {
    flushIntervalMs: config.AUTHZ_FLUSH_INTERVAL,
    maxPending: 200_000,
  });
  const defaults = {
    perMinute: config.DEFAULT_RATE_LIMIT_PER_MINUTE,
    perDay: config.DEFAULT_RATE_LIMIT_PER_DAY,
  };
  const quotaAlerts = new QuotaAlertQueue({
    db,
    logger,
    flushIntervalMs: config.QUOTA_ALERT_FLUSH_INTERVAL,
  });
  const lookup = new KeyLookup(
    lookupDb,
    cache,
    {
      defaults,
      ttlMs: config.KEY_CACHE_TTL,
      negativeTtlMs: config.NEGATIVE_CACHE_TTL,
      timeoutMs: config.KEY_LOOKUP_TIMEOUT,
      maxInFlight: 1_000,
    },
    metrics,
  );
  const checker = new KeyChecker({
    format,
    credentialHeaders: { authorization: config.AUTHORIZATION_HEADER, apiKey: config.API_KEY_HEADER },
    lookup,
    limiter,
    fallback: config.RATE_LIMIT_FAILURE_MODE === "open" ? new LocalRateLimiter(quotaBaseline) : null,
    usage,
    quotaAlerts,
    requireBillingCustomer: config.REQUIRE_BILLING_CUSTOMER,
    metrics,
    logger,
  });
  const internalToken = new InternalTokenCheck({
    token: config.INTERNAL_TOKEN,
    onRefused: (service) => metrics.unauthenticated.inc({ service }),
    logger,
  });
  const grpcServer = createGrpcServer(
    {
      kind: config.GRPC_SERVER,
      idleTimeoutMs: config.GRPC_IDLE_TIMEOUT,
      keepaliveIntervalMs: config.GRPC_KEEPALIVE_INTERVAL,
      maxConnectionAgeMs: config.GRPC_MAX_CONNECTION_AGE,
    },
    { internalToken, logger },
  );
  new AuthorizationService(
    checker,
    {
      credentialHeaders: config.REMOVE_CREDENTIAL_HEADERS
        ? [config.AUTHORIZATION_HEADER, config.API_KEY_HEADER]
        : [],
    },
    metrics,
    logger,
  ).addToServer(grpcServer, config.CHECK_REQUEST_DECODER);
  // The same decision for HTTP gateways (nginx auth_request, Caddy, Traefik, Envoy's HTTP ext_authz).
  const forwardAuth = createForwardAuthServer({ checker, internalToken, metrics, logger });
  // "" is the server as a whole; Envoy's gRPC health check may name the service instead.
  const healthNames = ["", "envoy.service.auth.v3.Authorization"];
  const health = grpcServer.addHealth(Object.fromEntries(healthNames.map((n) => [n, "NOT_SERVING"])));

  // Without a Stripe key, customer ids get the format check only, as nothing could be asked.
  const customers = config.STRIPE_API_KEY
    ? new StripeCustomerDirectory({
        apiKey: config.STRIPE_API_KEY,
        apiBase: config.STRIPE_API_BASE,
        timeoutMs: config.STRIPE_TIMEOUT,
        logger,
      })
    : formatOnly;
  const keys = new KeyService(
    db,
    format,
    { rotationGraceMs: config.KEY_ROTATION_GRACE, customers },
    invalidation,
  );
  const addressGuard = new AddressGuard({
    allowedHosts: config.WEBHOOK_ALLOWED_HOSTS,
    timeoutMs: config.WEBHOOK_TIMEOUT,
  });
  const webhookWorker = new WebhookWorker({
    db,
    sender: new WebhookSender({ guard: addressGuard, timeoutMs: config.WEBHOOK_TIMEOUT }),
    logger,
    pollIntervalMs: config.WEBHOOK_POLL_INTERVAL,
    concurrency: config.WEBHOOK_CONCURRENCY,
    timeoutMs: config.WEBHOOK_TIMEOUT,
    retry: {
      baseMs: config.WEBHOOK_RETRY_BASE,
      maxMs: config.WEBHOOK_RETRY_MAX,
      forMs: config.WEBHOOK_RETRY_FOR,
    },
  });
  const app = createHttpApp({
    adminToken: config.ADMIN_TOKEN,
    managementKeyFormat,
    managementKeyAuth,
    adminAuthLimits: {
      maxFailures: config.ADMIN_AUTH_MAX_FAILURES,
      windowMs: config.ADMIN_AUTH_FAILURE_WINDOW,
    },
    corsOrigins: config.CORS_ORIGINS,
    trustProxy: config.TRUST_PROXY,
    logger,
    registry,
    keys,
    keySearch: new KeySearch(db),
    users: new UserService(db, invalidation, customers),
    userDirectory: new UserDirectory(db),
    audit: new AuditService(db),
    usage: new UsageService(db),
    managementKeys: new ManagementKeyService(db, managementKeyFormat, invalidation),
    plans: new PlanService(db, invalidation),
    quotas: new QuotaService(db, limiter, quotaBaseline),
    checker,
    webhooks: new WebhookService(db, addressGuard),
    readiness: {
      postgres: () => sql`select 1`.execute(db),
      redis: () => redis.ping(),
    },
  });

  let server: Server | undefined;

  // After subscribing to key changes, so a change made meanwhile is not cached from an older read.
  const prewarmKeyCache = async () => {
    if (config.KEY_CACHE_PREWARM === 0) return;
    const started = performance.now();
    try {
      const since = new Date(Date.now() - config.KEY_CACHE_PREWARM);
      const keys = await lookup.prewarm(db, since, config.KEY_CACHE_SIZE);
      const ms = Math.round(performance.now() - started);
      logger.info({ keys, ms }, "key cache filled with the keys used lately (KEY_CACHE_PREWARM)");
    } catch (err) {
      logger.warn(
        { err: (err as Error).message },
        "could not fill the key cache at start; keys are looked up as used",
      );
    }
  };

  return {
    async start() {
      if (config.MIGRATE_ON_START) {
        const applied = await migrateToLatest(db);
        if (applied.length > 0) logger.info({ migrations: applied.map((m) => m.migrationName) }, "migrated");
      }
      await invalidation.start();
      await prewarmKeyCache();
      // The limiter queues nothing, so let it connect before the first check; if Redis is down,
      // start anyway and let the failure mode decide.
      await limiter.start(2_000);
      usage.start();
      quotaAlerts.start();
      webhookWorker.start();
      const listening = app.listen(config.HTTP_PORT, config.HOST);
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once("listening", resolve);
        listening.once("error", reject);
      });
      const address = listening.address();
      const httpPort = typeof address === "object" && address ? address.port : config.HTTP_PORT;
      const grpcPort = await grpcServer.listen(config.HOST, config.GRPC_PORT);
      const authHttpPort = await listen(forwardAuth, config.AUTH_HTTP_PORT, config.HOST);
      for (const name of healthNames) health.setStatus(name, "SERVING");
      logger.info(
        {
          http_port: httpPort,
          grpc_port: grpcPort,
          auth_http_port: authHttpPort,
          key_prefix: config.KEY_PREFIX,
        },
        "api-key-service listening",
      );
      return { httpPort, grpcPort, authHttpPort };
    },

    async stop() {
      await Promise.all([
        (async () => {
          for (const name of healthNames) health.setStatus(name, "NOT_SERVING");
          await grpcServer.close(config.SHUTDOWN_TIMEOUT);
        })(),
        server ? closeServer(server, config.SHUTDOWN_TIMEOUT) : Promise.resolve(),
        forwardAuth.listening ? closeServer(forwardAuth, config.SHUTDOWN_TIMEOUT) : Promise.resolve(),
      ]);
      await usage.stop();
      // After the check path has stopped: the last crossings are written before the pool closes.
      await Promise.all([quotaAlerts.stop(), webhookWorker.stop()]);
      limiter.stop();
      invalidation.stop();
      for (const client of [redis, subscriber]) client.disconnect();
      await Promise.all([db.destroy(), lookupDb.destroy()]);
    },
  };
}

/** Binds a node:http server; resolves with the port it got. */
function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : port);
    });
  });
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
