import { type Logger, SerialRunner } from "@gateway/common";
import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import {
  type ClaimedDelivery,
  claimDueDeliveries,
  markDelivered,
  markFailed,
} from "./deliveries.repository.js";
import type { SendOutcome, WebhookSender } from "./webhook-sender.js";

export interface RetryPolicy {
  /** The first retry's delay; each later one doubles, up to `maxMs`, with jitter. */
  baseMs: number;
  maxMs: number;
  /** How long after the event a delivery is retried before it is dead. */
  forMs: number;
}

export interface WebhookWorkerOptions {
  db: Kysely<Database>;
  sender: WebhookSender;
  logger: Logger;
  pollIntervalMs: number;
  /** Deliveries claimed and sent at once. */
  concurrency: number;
  /** The sender's timeout: a claim is leased for it plus a margin. */
  timeoutMs: number;
  retry: RetryPolicy;
  now?: () => number;
}

/** Time past the sender's timeout to record the outcome before another worker may take the delivery. */
const LEASE_MARGIN_MS = 5_000;
/** Pages claimed in one pass at most, so a backlog cannot keep a pass (and stop) going for ever. */
const MAX_PAGES_PER_PASS = 20;

/**
 * Sends the deliveries outbox, off the request path. Every replica may run one: claims are leased
 * with FOR UPDATE SKIP LOCKED, so each delivery is attempted by one worker at a time. A worker killed
 * mid-attempt leaves its lease to expire and the delivery is retried with the same webhook-id, so a
 * receiver sees one id per event, perhaps twice, never two ids.
 */
export class WebhookWorker {
  private readonly passes = new SerialRunner(() =>
    this.pass().catch((err: unknown) =>
      this.options.logger.warn({ err }, "webhook delivery pass failed; will retry"),
    ),
  );
  private stopping = new AbortController();
  private readonly now: () => number;

  constructor(private readonly options: WebhookWorkerOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    this.stopping = new AbortController();
    this.passes.every(this.options.pollIntervalMs);
  }

  /** Interrupts attempts in flight (they are retried at once, by any replica) and waits for the pass. */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.passes.stop();
  }

  /**
   * One pass over what is due, covering every delivery created before the call. Passes never
   * overlap: one asked for while a pass is under way runs after it (SerialRunner).
   */
  runOnce(): Promise<void> {
    return this.passes.run();
  }

  private async pass(): Promise<void> {
    const counts = { delivered: 0, retrying: 0, dead: 0 };
    const { db, concurrency, timeoutMs } = this.options;
    for (let page = 0; page < MAX_PAGES_PER_PASS && !this.stopping.signal.aborted; page++) {
      const claimed = await claimDueDeliveries(db, timeoutMs + LEASE_MARGIN_MS, concurrency);
      if (claimed.length === 0) break;
      const outcomes = await Promise.all(claimed.map((delivery) => this.attempt(delivery)));
      for (const outcome of outcomes) counts[outcome]++;
      if (claimed.length < concurrency) break;
    }
    if (counts.delivered + counts.retrying + counts.dead > 0) {
      this.options.logger.info(counts, "webhook deliveries attempted");
    }
  }

  private async attempt(delivery: ClaimedDelivery): Promise<"delivered" | "retrying" | "dead"> {
    const outcome = await this.options.sender.send(
      { url: delivery.url, secret: delivery.secret },
      { id: delivery.event_id, body: JSON.stringify(delivery.payload) },
      this.stopping.signal,
    );
    const now = new Date(this.now());
    if (outcome.ok) {
      await markDelivered(this.options.db, delivery, outcome.statusCode, now);
      return "delivered";
    }
    const retryInMs = this.stopping.signal.aborted ? 0 : this.retryDelay(delivery, now);
    await markFailed(this.options.db, delivery, { ...failure(outcome), retryInMs }, now);
    if (retryInMs !== null) return "retrying";
    this.options.logger.warn(
      { webhook_id: delivery.webhook_id, event_id: delivery.event_id, attempts: delivery.attempts },
      "webhook delivery dead: retried for the whole retry period",
    );
    return "dead";
  }

  /** Exponential back-off with jitter (half to all of the delay); null once the retry period is over. */
  private retryDelay(delivery: ClaimedDelivery, now: Date): number | null {
    const { baseMs, maxMs, forMs } = this.options.retry;
    if (now.getTime() - delivery.created_at.getTime() >= forMs) return null;
    const delay = Math.min(maxMs, baseMs * 2 ** Math.min(delivery.attempts - 1, 30));
    return delay / 2 + Math.random() * (delay / 2);
  }
}

const failure = (outcome: Extract<SendOutcome, { ok: false }>) => ({
  statusCode: outcome.statusCode,
  error: outcome.error,
});
