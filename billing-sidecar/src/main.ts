import type { Server } from "node:http";
import {
  createLogger,
  createRedisClient,
  GrpcServer,
  InternalTokenCheck,
  type Logger,
} from "@gateway/common";
import { createDb } from "@gateway/db";
import { sql } from "kysely";
import { collectDefaultMetrics, Registry } from "prom-client";
import { AccessLogService } from "./als/access-log-service.js";
import { ChecksPoller } from "./checks-source/checks-poller.js";
import { IgnoredAccessLog } from "./checks-source/ignored-access-log.js";
import { ChecksSourceMetrics } from "./checks-source/metrics.js";
import type { Config } from "./config.js";
import { createHttpApp } from "./http/app.js";
import { stripeWebhookRouter } from "./http/stripe-webhook.js";
import { SidecarMetrics } from "./metrics.js";
import {
  createStripe,
  createStripeMeterClient,
  type MeterClient,
  stripeConfig,
} from "./stripe/meter-client.js";
import { registerOutboxLagGauge } from "./stripe/outbox-lag.js";
import { OutboxWorker } from "./stripe/outbox-worker.js";
import { createStreamMeterClient } from "./stripe/stream-client.js";
import { RedisKeyChangeNotifier } from "./stripe-webhooks/key-changes.js";
import { WebhookMetrics } from "./stripe-webhooks/metrics.js";
import { StripeWebhookService } from "./stripe-webhooks/webhook-service.js";
import { UsageAggregator } from "./usage/aggregator.js";
import { registerReconciliationGauges } from "./usage/reconciliation.js";
import { registerUnbilledGauges } from "./usage/unbilled.js";

export interface Sidecar {
  start(): Promise<{ alsPort: number; httpPort: number }>;
  /** Stops taking streams, writes what it holds, then closes the pool. */
  stop(): Promise<void>;
  /** Seals and writes the usage held in memory now, or with BILLING_SOURCE=checks takes what has settled. */
  flush(): Promise<void>;
  /** Runs one outbox pass now: enqueue what closed windows owe, send what is due. */
  sendToStripe(): Promise<void>;
}

/** The composition root of the billing sidecar. Migrations are run by api-key-service or `pnpm migrate`. */
export interface SidecarOptions {
  logger?: Logger;
  /** Replaces the Stripe SDK client (tests of the outbox's decisions). */
  meterClient?: MeterClient;
  /** The clock that decides which windows and minutes have settled (tests). */
  now?: () => number;
}

export function createSidecar(config: Config, options: SidecarOptions = {}): Sidecar {
  const logger = options.logger ?? createLogger({ service: "billing-sidecar", level: config.LOG_LEVEL });
  const db = createDb({
    url: config.DATABASE_URL,
    onError: (err) => logger.warn({ err: err.message }, "postgres idle client error"),
  });
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = new SidecarMetrics(registry);
  registerReconciliationGauges(registry, db, logger);
  registerUnbilledGauges(registry, db, logger);
  registerOutboxLagGauge(registry, db, logger);
  const aggregator = new UsageAggregator(
    db,
    {
      flushIntervalMs: config.USAGE_FLUSH_INTERVAL,
      batchRows: config.USAGE_BATCH_ROWS,
      bufferRows: config.USAGE_BUFFER_ROWS,
      dedupeEntries: config.DEDUPE_WINDOW_ENTRIES,
    },
    metrics,
    logger,
  );
  // BILLING_SOURCE=checks: usage comes from api-key-service's counts; access-log entries bill nothing.
  const checks =
    config.BILLING_SOURCE === "checks"
      ? new ChecksPoller(
          db,
          {
            pollIntervalMs: config.CHECKS_POLL_INTERVAL,
            settleMs: config.CHECKS_SETTLE,
            batchRows: config.USAGE_BATCH_ROWS,
            billFrom: config.CHECKS_BILL_FROM,
          },
          new ChecksSourceMetrics(registry),
          logger,
          options.now,
        )
      : undefined;
  const usageSink = checks ? new IgnoredAccessLog(metrics, logger) : aggregator;
  const grpcServer = new GrpcServer(
    [new AccessLogService(usageSink, { billableStatuses: config.BILLABLE_STATUSES }, metrics, logger)],
    ["envoy.service.accesslog.v3.AccessLogService"],
    {
      // Without it any pod that reaches the port could stream billable usage for any key.
      internalToken: new InternalTokenCheck({
        token: config.INTERNAL_TOKEN,
        onRefused: (service) => metrics.unauthenticated.inc({ service }),
        logger,
      }),
    },
  );
  const meterClient =
    options.meterClient ??
    (config.STRIPE_API_KEY ? stripeClientFor(config, config.STRIPE_API_KEY) : undefined);
  const outbox = meterClient
    ? new OutboxWorker(
        db,
        meterClient,
        {
          eventName: config.STRIPE_METER_EVENT_NAME,
          windowMs: config.STRIPE_WINDOW,
          // A window is sent once its last minute has been taken from the checks, not before.
          settleMs: checks
            ? Math.max(config.STRIPE_SETTLE, config.CHECKS_SETTLE + config.CHECKS_POLL_INTERVAL + 5_000)
            : config.STRIPE_SETTLE,
          lookbackMs: config.STRIPE_LOOKBACK,
          intervalMs: config.STRIPE_SEND_INTERVAL,
          concurrency: config.STRIPE_CONCURRENCY,
        },
        metrics.stripeEvents,
        logger,
        options.now,
      )
    : undefined;
  const webhookMetrics = new WebhookMetrics(registry);
  // Only webhooks need Redis (config requires REDIS_URL with the secret): to announce suspensions.
  const redis =
    config.STRIPE_WEBHOOK_SECRET && config.REDIS_URL
      ? createRedisClient({
          url: config.REDIS_URL,
          onError: (err) => logger.warn({ err: err.message }, "redis connection error"),
        })
      : undefined;
  const webhooks = redis
    ? new StripeWebhookService(
        db,
        config.STRIPE_WEBHOOK_POLICY,
        new RedisKeyChangeNotifier(redis, config.REDIS_KEY_PREFIX, logger, () =>
          webhookMetrics.publishFailures.inc(),
        ),
      )
    : undefined;
  const webhookRouter = stripeWebhookRouter({
    secret: config.STRIPE_WEBHOOK_SECRET,
    service: webhooks,
    events: webhookMetrics.events,
    logger,
  });
  const app = createHttpApp(
    registry,
    async () => ({
      postgres: await sql`select 1`
        .execute(db)
        .then(() => "ok")
        .catch(() => "unavailable"),
      stripe: config.STRIPE_API_KEY
        ? "configured"
        : "idle (no STRIPE_API_KEY): usage is recorded, nothing is sent",
      stripe_webhooks: !redis
        ? "off (no STRIPE_WEBHOOK_SECRET): POST /stripe/webhook answers 501"
        : redis.status === "ready"
          ? "configured"
          : "configured; redis unavailable: suspensions reach api-key-service at its KEY_CACHE_TTL",
    }),
    [webhookRouter],
  );
  let server: Server | undefined;

  return {
    async start() {
      if (checks) checks.start();
      else aggregator.start();
      outbox?.start();
      const alsPort = await grpcServer.start(config.HOST, config.ALS_PORT);
      const listening = app.listen(config.HTTP_PORT, config.HOST);
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once("listening", resolve);
        listening.once("error", reject);
      });
      const address = listening.address();
      const httpPort = typeof address === "object" && address ? address.port : config.HTTP_PORT;
      if (!config.STRIPE_API_KEY)
        logger.warn("no STRIPE_API_KEY: usage is recorded in Postgres, nothing is sent to Stripe");
      if (!webhooks)
        logger.warn(
          "no STRIPE_WEBHOOK_SECRET: POST /stripe/webhook answers 501 and unpaid invoices suspend no keys",
        );
      logger.info(
        { als_port: alsPort, http_port: httpPort, billing_source: config.BILLING_SOURCE },
        "billing-sidecar listening",
      );
      return { alsPort, httpPort };
    },
    async stop() {
      await grpcServer.stop(config.SHUTDOWN_TIMEOUT);
      await aggregator.stop();
      await checks?.stop();
      await outbox?.stop();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
      await redis?.quit().catch(() => redis.disconnect());
      await db.destroy();
    },
    flush: () => (checks ? checks.runOnce() : aggregator.flush()),
    sendToStripe: () => outbox?.runOnce() ?? Promise.resolve(),
  };
}

function stripeClientFor(config: Config, apiKey: string): MeterClient {
  const stripe = createStripe(apiKey, config.STRIPE_API_BASE, config.STRIPE_TIMEOUT);
  if (config.STRIPE_MODE === "v1") return createStripeMeterClient(stripe);
  // The session client talks to the same host with the same settings, under the session's token.
  return createStreamMeterClient(stripe, stripeConfig(config.STRIPE_API_BASE, config.STRIPE_TIMEOUT));
}
