import type { Logger } from "@gateway/common";
import type { Database } from "@gateway/db";
import { type Kysely, sql } from "kysely";
import { Gauge, type Registry } from "prom-client";

/**
 * How long the oldest pending Stripe meter event has waited since it was enqueued (0 when none), read
 * from Postgres when Prometheus scrapes: the outbox-lag alert fires on it. A growing figure means
 * events are not reaching Stripe (no key, Stripe refusing or rate-limiting, a stuck sidecar).
 */
export function registerOutboxLagGauge(
  registry: Registry,
  db: Kysely<Database>,
  logger: Logger,
  now: () => number = Date.now,
): void {
  new Gauge({
    name: "stripe_outbox_oldest_pending_age_seconds",
    help: "Seconds since the oldest pending Stripe meter event was enqueued; 0 when none is pending",
    registers: [registry],
    async collect() {
      try {
        // The (status, next_attempt_at) index narrows to pending rows; created_at orders them.
        const { rows } = await sql<{ oldest: Date | null }>`
          select min(created_at) as oldest from stripe_outbox where status = 'pending'`.execute(db);
        const oldest = rows[0]?.oldest;
        this.set(oldest ? Math.max(0, (now() - oldest.getTime()) / 1000) : 0);
      } catch (err) {
        // The scrape still answers with the other metrics; this one keeps its last value.
        logger.warn({ err }, "outbox lag gauge not read");
      }
    },
  });
}
