import type { Logger } from "@gateway/common";
import type { Database } from "@gateway/db";
import { type Kysely, sql } from "kysely";
import { Gauge, type Registry } from "prom-client";

const MINUTE_MS = 60_000;
/** Minutes this recent may still be on their way (access-log buffers, both services' flushes). */
const SETTLE_MS = 2 * MINUTE_MS;
const WINDOW_MS = 60 * MINUTE_MS;

interface Totals {
  allowed: number;
  logged: number;
}

/**
 * The reconciliation gap as gauges, read from Postgres when Prometheus scrapes: over the last hour of
 * settled minutes, the checks ext_authz allowed (authz_counts, written by api-key-service) against the
 * requests the access log delivered (usage_minutes). A positive gap is what Envoy's lossy access-log
 * stream dropped; per key and minute it is in the usage API (GET /api/usage). Requests, not units:
 * the access log records units only for billable entries, so there are no logged units to set
 * against the units ext_authz allowed.
 */
export function registerReconciliationGauges(
  registry: Registry,
  db: Kysely<Database>,
  logger: Logger,
  now: () => number = Date.now,
): void {
  // prom-client collects the three gauges of a scrape concurrently: they share one query in flight.
  let inFlight: Promise<Totals | undefined> | undefined;
  const read = (): Promise<Totals | undefined> => {
    inFlight ??= query().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  const query = (): Promise<Totals | undefined> => {
    const to = new Date(Math.floor((now() - SETTLE_MS) / MINUTE_MS) * MINUTE_MS);
    const from = new Date(to.getTime() - WINDOW_MS);
    return sql<{ allowed: string; logged: string }>`
      select (select coalesce(sum(allowed), 0) from authz_counts
               where minute >= ${from} and minute < ${to}) as allowed,
             (select coalesce(sum(requests), 0) from usage_minutes
               where minute >= ${from} and minute < ${to}) as logged`
      .execute(db)
      .then(({ rows }) => ({ allowed: Number(rows[0]?.allowed ?? 0), logged: Number(rows[0]?.logged ?? 0) }))
      .catch((err: Error) => {
        // The scrape still answers with the other metrics; these keep their last values.
        logger.warn({ err: err.message }, "reconciliation gauges not read");
        return undefined;
      });
  };
  const gauge = (name: string, help: string, value: (t: Totals) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const totals = await read();
        if (totals) this.set(value(totals));
      },
    });
  gauge(
    "usage_reconciliation_gap_requests",
    "Checks ext_authz allowed minus requests the access log delivered, over the last settled hour",
    (t) => t.allowed - t.logged,
  );
  gauge(
    "usage_reconciliation_allowed_checks",
    "Checks ext_authz allowed over the last settled hour (authz_counts)",
    (t) => t.allowed,
  );
  gauge(
    "usage_reconciliation_logged_requests",
    "Requests the access log delivered over the last settled hour (usage_minutes)",
    (t) => t.logged,
  );
}
