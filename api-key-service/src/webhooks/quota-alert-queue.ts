import { type Logger, SerialRunner } from "@gateway/common";
import type { Database } from "@gateway/db";
import { type Kysely, sql } from "kysely";
import { LRUCache } from "lru-cache";
import type { QuotaAlerts, QuotaCrossing } from "../authz/quota-alerts.js";
import { newId } from "../ids.js";
import { enqueueEvents, type StampedEvent } from "./webhook-events.repository.js";

export interface QuotaAlertQueueOptions {
  db: Kysely<Database>;
  logger: Logger;
  flushIntervalMs: number;
  /** Crossings held at most while Postgres is slow or away; more are dropped (and counted in the log). */
  maxPending?: number;
  now?: () => Date;
}

interface Pending {
  crossing: QuotaCrossing;
  event: StampedEvent;
}

const DEFAULT_MAX_PENDING = 10_000;
/** Crossings known to be written: a replica told again skips Postgres. */
const REMEMBERED = 10_000;

/**
 * QuotaAlerts for the check path: `crossed()` only files the crossing in memory; a timer writes them
 * in batches. Each crossing is stored once per user, billing period and threshold (a unique key, with
 * `on conflict do nothing`), and only a first insert creates the quota.threshold event and its
 * deliveries, however many replicas report it, however often.
 */
export class QuotaAlertQueue implements QuotaAlerts {
  private pending = new Map<string, Pending>();
  private readonly written = new LRUCache<string, true>({ max: REMEMBERED });
  private readonly writer = new SerialRunner(() => this.write());
  private dropped = 0;
  private readonly now: () => Date;

  constructor(private readonly options: QuotaAlertQueueOptions) {
    this.now = options.now ?? (() => new Date());
  }

  crossed(crossing: QuotaCrossing): void {
    try {
      const key = `${crossing.userId}\u0000${crossing.periodStart.toISOString()}\u0000${crossing.threshold}`;
      if (this.written.has(key) || this.pending.has(key)) return;
      if (this.pending.size >= (this.options.maxPending ?? DEFAULT_MAX_PENDING) || !writable(crossing)) {
        this.dropped++;
        return;
      }
      this.pending.set(key, { crossing, event: toEvent(crossing, this.now()) });
    } catch {
      // An invalid date: dropped, as the check path must never fail for an alert.
      this.dropped++;
    }
  }

  start(): void {
    this.writer.every(this.options.flushIntervalMs);
  }

  /** Writes what is queued; call after the check path has stopped. */
  async stop(): Promise<void> {
    await this.writer.stop();
    await this.flush();
  }

  /** Writes the crossings queued before the call; writes run one at a time (SerialRunner). */
  flush(): Promise<void> {
    return this.writer.run();
  }

  private async write(): Promise<void> {
    if (this.dropped > 0) {
      this.options.logger.warn({ dropped: this.dropped }, "quota threshold crossings dropped");
      this.dropped = 0;
    }
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      const fresh = await this.options.db.transaction().execute(async (trx) => {
        const created = await insertCrossings(trx, [...batch.values()]);
        const events = [...batch.values()].filter((p) => created.has(p.event.id)).map((p) => p.event);
        await enqueueEvents(trx, events);
        return events.length;
      });
      for (const key of batch.keys()) this.written.set(key, true);
      if (fresh > 0) this.options.logger.info({ crossings: fresh }, "quota threshold events recorded");
    } catch (err) {
      // Kept for the next flush; the unique key makes writing them twice harmless.
      for (const [key, p] of batch) if (!this.pending.has(key)) this.pending.set(key, p);
      this.options.logger.warn(
        { err, crossings: batch.size },
        "quota threshold crossings not written; will retry",
      );
    }
  }
}

/** Inserts the crossings not yet recorded; returns the event ids of those inserted now. */
async function insertCrossings(db: Kysely<Database>, batch: Pending[]): Promise<Set<string>> {
  const rows = JSON.stringify(
    batch.map((p) => ({
      user_id: p.crossing.userId,
      period_start: p.crossing.periodStart.toISOString(),
      threshold: p.crossing.threshold,
      event_id: p.event.id,
    })),
  );
  const { rows: inserted } = await sql<{ event_id: string }>`
    insert into quota_alerts (user_id, period_start, threshold, event_id)
    select user_id, period_start, threshold, event_id
      from jsonb_to_recordset(${rows}::jsonb)
        as c(user_id text, period_start timestamptz, threshold double precision, event_id text)
    on conflict (user_id, period_start, threshold) do nothing
    returning event_id
  `.execute(db);
  return new Set(inserted.map((r) => r.event_id));
}

/** What Postgres would refuse (NaN, NUL) would hold up every batch it is in: refused up front. */
function writable(c: QuotaCrossing): boolean {
  const texts = [c.userId, c.planId].every((t) => typeof t === "string" && !t.includes("\u0000"));
  return texts && [c.threshold, c.monthlyQuota, c.used].every(Number.isFinite);
}

function toEvent(c: QuotaCrossing, at: Date): StampedEvent {
  return {
    id: newId("evt"),
    occurredAt: at,
    type: "quota.threshold",
    data: {
      user_id: c.userId,
      plan_id: c.planId,
      threshold: c.threshold,
      monthly_quota: c.monthlyQuota,
      used: c.used,
      period_start: c.periodStart.toISOString(),
      period_end: c.periodEnd.toISOString(),
    },
  };
}
