import type { Logger } from "@gateway/common";
import type { Database } from "@gateway/db";
import { type Kysely, sql } from "kysely";
import { Gauge, type Registry } from "prom-client";
import { STRIPE_MAX_EVENT_AGE_MS } from "../stripe/backfill.repository.js";

interface Unbilled {
  units: number;
  users: number;
}

/**
 * Usage recorded without a Stripe customer and not billed since, over the 35 days Stripe still takes
 * it, as gauges read from Postgres when Prometheus scrapes. Above zero, users are being served
 * without a customer to bill: setting one bills these units (backfill.repository.ts); past 35 days
 * they can no longer be billed. The query walks only unsettled customerless rows (a partial index).
 */
export function registerUnbilledGauges(
  registry: Registry,
  db: Kysely<Database>,
  logger: Logger,
  now: () => number = Date.now,
): void {
  // The two gauges of a scrape share one query in flight.
  let inFlight: Promise<Unbilled | undefined> | undefined;
  const read = (): Promise<Unbilled | undefined> => {
    inFlight ??= query().finally(() => {
      inFlight = undefined;
    });
    return inFlight;
  };
  const query = (): Promise<Unbilled | undefined> => {
    const since = new Date(now() - STRIPE_MAX_EVENT_AGE_MS);
    return sql<{ units: string; users: string }>`
      select coalesce(sum(billable_units - backfilled_units - unbillable_units), 0) as units,
             count(distinct user_id) filter (where billable_units > backfilled_units + unbillable_units) as users
        from usage_minutes
       where stripe_customer_id is null and backfilled_at is null and minute >= ${since}`
      .execute(db)
      .then(({ rows }) => ({ units: Number(rows[0]?.units ?? 0), users: Number(rows[0]?.users ?? 0) }))
      .catch((err: Error) => {
        // The scrape still answers with the other metrics; these keep their last values.
        logger.warn({ err }, "unbilled usage gauges not read");
        return undefined;
      });
  };
  const gauge = (name: string, help: string, value: (u: Unbilled) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        const unbilled = await read();
        if (unbilled) this.set(value(unbilled));
      },
    });
  gauge(
    "billing_unbilled_units",
    "Billable units of the last 35 days recorded without a Stripe customer and not billed since",
    (u) => u.units,
  );
  gauge(
    "billing_unbilled_users",
    "Users with billable units of the last 35 days recorded without a Stripe customer and not billed since",
    (u) => u.users,
  );
}
