import { type Logger, SerialRunner } from "@gateway/common";
import type { Database } from "@gateway/db";
import { type Kysely, sql } from "kysely";
import type { Counter } from "prom-client";
import { enqueueBackfills } from "./backfill.repository.js";
import type { MeterClient } from "./meter-client.js";
import {
  dueEvents,
  enqueueDifferences,
  markDead,
  markRetry,
  markSent,
  type OutboxEvent,
} from "./outbox.repository.js";

export interface OutboxSettings {
  eventName: string;
  windowMs: number;
  /** How long after a window ends before it is sent, so the access log's last entries are in. */
  settleMs: number;
  /** How far back late usage is still sent as a correction (Stripe refuses events older than 35 days). */
  lookbackMs: number;
  intervalMs: number;
  /** Customers sent to at once; each customer still has one call in flight at most. */
  concurrency: number;
}

const LOCK = 7_346_117; // one sender at a time across sidecar replicas
const BACKOFF_BASE_MS = 1_000;
const BACKOFF_MAX_MS = 5 * 60_000;

/**
 * Turns usage into Stripe meter events through the outbox: enqueue what closed windows owe, then
 * send what is due, one call at a time per customer, backing off with jitter on 429 and errors. A
 * duplicate-identifier answer means Stripe already has the event: delivered. Anything else Stripe
 * refuses goes to the dead-letter state with its reason.
 */
/** Due events read at a time, and at most this many pages in one pass. */
const PAGE_SIZE = 500;
const MAX_PAGES_PER_PASS = 20;

export class OutboxWorker {
  private readonly passes = new SerialRunner(() =>
    this.pass().catch((err: Error) =>
      this.logger.warn({ err: err.message }, "stripe outbox pass failed; will retry"),
    ),
  );

  constructor(
    private readonly db: Kysely<Database>,
    private readonly client: MeterClient,
    private readonly settings: OutboxSettings,
    private readonly sent: Counter<"result">,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.passes.every(this.settings.intervalMs);
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /**
   * One pass: enqueue, then send what is due, covering all usage written before the call. Passes
   * never overlap: one asked for while a pass is under way runs after it (SerialRunner).
   */
  runOnce(): Promise<void> {
    return this.passes.run();
  }

  /**
   * No transaction spans a Stripe call: the enqueued rows commit before any is sent, and each outcome
   * commits on its own. A pass that dies after Stripe accepted an event (a crash, a lost connection)
   * leaves that event pending with the identifier and value Stripe has, so the retry is answered as a
   * replay or a duplicate; inside one transaction the rows would vanish, and the next pass would
   * enqueue the same identifier with a value grown by the usage that came in meanwhile.
   */
  private async pass(): Promise<void> {
    // A session lock on the pass's one connection: one sender across replicas, released with it.
    await this.db.connection().execute(async (conn) => {
      const { rows } = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_lock(${LOCK}) as locked`.execute(conn);
      if (!rows[0]?.locked) return; // another replica is sending
      try {
        await this.enqueueAndSend(conn);
      } finally {
        await sql`select pg_advisory_unlock(${LOCK})`.execute(conn);
      }
    });
  }

  private async enqueueAndSend(db: Kysely<Database>): Promise<void> {
    const now = this.now();
    await this.backfill(db, now);
    const enqueued = await enqueueDifferences(db, {
      eventName: this.settings.eventName,
      windowMs: this.settings.windowMs,
      since: new Date(now - this.settings.lookbackMs),
      until: new Date(now - this.settings.settleMs),
    });
    if (enqueued > 0) this.logger.info({ events: enqueued }, "stripe meter events enqueued");
    // A backlog is worked through in pages within one pass, not one page per STRIPE_SEND_INTERVAL.
    // Events that failed wait for their back-off and customers behind them are skipped by dueEvents,
    // so each page holds new work; the page cap bounds a pass all the same.
    for (let page = 0; page < MAX_PAGES_PER_PASS; page++) {
      const due = await dueEvents(db, PAGE_SIZE);
      if (due.length === 0) return;
      const complete = await this.sendPage(db, due);
      if (!complete || due.length < PAGE_SIZE) return;
    }
  }

  /**
   * Usage recorded without a customer whose key or user now has one: enqueued once, before this pass
   * sends, or found too old for Stripe. Its own failure (logged) does not hold up the usual windows.
   */
  private async backfill(db: Kysely<Database>, now: number): Promise<void> {
    try {
      const result = await enqueueBackfills(db, {
        eventName: this.settings.eventName,
        windowMs: this.settings.windowMs,
        now: new Date(now),
        until: new Date(now - this.settings.settleMs),
      });
      if (result.events > 0) {
        this.logger.info(
          { events: result.events, units: result.units, rows: result.rows },
          "usage recorded without a customer enqueued for Stripe now that it has one (backfill)",
        );
      }
      if (result.unbillableUnits > 0) {
        this.logger.warn(
          { units: result.unbillableUnits },
          "usage recorded without a customer is too old for Stripe now that a customer is set: not billed",
        );
      }
    } catch (err) {
      this.logger.warn({ err }, "stripe backfill failed; will retry");
    }
  }

  /** Sends one page of due events; false when the rest should wait for the next pass. */
  private async sendPage(db: Kysely<Database>, due: OutboxEvent[]): Promise<boolean> {
    if (this.client.batchSize > 1) {
      // The stream has no per-customer concurrency rule: send in full batches, one after another.
      for (let i = 0; i < due.length; i += this.client.batchSize) {
        if (!(await this.deliver(db, due.slice(i, i + this.client.batchSize)))) return false;
      }
      return true;
    }
    const byCustomer = new Map<string, OutboxEvent[]>();
    for (const event of due) {
      const list = byCustomer.get(event.stripe_customer_id) ?? [];
      list.push(event);
      byCustomer.set(event.stripe_customer_id, list);
    }
    const queues = [...byCustomer.values()];
    const workers = Array.from({ length: Math.min(this.settings.concurrency, queues.length) }, async () => {
      for (let queue = queues.shift(); queue; queue = queues.shift()) {
        for (const event of queue) {
          if (!(await this.deliver(db, [event]))) break; // keep this customer's order; try again later
        }
      }
    });
    await Promise.all(workers);
    return true;
  }

  /** Sends events in one call and records the outcome for each; false when what follows should wait. */
  private async deliver(db: Kysely<Database>, events: OutboxEvent[]): Promise<boolean> {
    const outcome = await this.client.send(
      events.map((event) => ({
        eventName: event.event_name,
        customerId: event.stripe_customer_id,
        value: event.value,
        identifier: event.identifier,
        timestamp: event.window_start,
      })),
    );
    const result = outcome.kind === "delivered" && outcome.duplicate ? "duplicate" : outcome.kind;
    this.sent.inc({ result }, events.length);
    for (const event of events) {
      switch (outcome.kind) {
        case "delivered":
          await markSent(db, event.id, outcome.duplicate ? "Stripe already had this identifier" : null);
          break;
        case "refused":
          this.logger.error(
            { identifier: event.identifier, reason: outcome.reason },
            "stripe refused a meter event",
          );
          await markDead(db, event.id, outcome.reason);
          break;
        default: {
          const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** event.attempts);
          const jittered = delay / 2 + Math.random() * (delay / 2);
          await markRetry(db, event.id, Math.round(jittered), outcome.reason);
        }
      }
    }
    return outcome.kind === "delivered" || outcome.kind === "refused";
  }
}
