import { randomUUID } from "node:crypto";
import { type Logger, SerialRunner } from "@gateway/common";
import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import type { SidecarMetrics } from "../metrics.js";
import type { UsageEvent } from "./entry.js";
import { RecentIds } from "./recent-ids.js";
import { type Rollup, writeBatch } from "./usage.repository.js";

export interface AggregatorSettings {
  flushIntervalMs: number;
  /** A batch is sealed when it holds this many rollup rows, without waiting for the interval. */
  batchRows: number;
  /** Rows held in memory at most (open batch plus sealed ones waiting for Postgres). */
  bufferRows: number;
  /** How many recent request ids are remembered to drop entries sent twice; 0 turns it off. */
  dedupeEntries: number;
}

interface Batch {
  id: string;
  rollups: Rollup[];
  entries: number;
}

/**
 * Rolls usage up per key and minute in memory and writes it in batches, oldest first. A batch keeps
 * its id across retries, so it is counted once however often its write is retried. When Postgres is
 * away, batches wait; when the buffer is full, new rows are shed with a metric and a log line, so
 * memory stays bounded.
 */
export class UsageAggregator {
  private open = new Map<string, Rollup>();
  private openEntries = 0;
  private readonly sealed: Batch[] = [];
  private sealedRows = 0;
  private readonly instance = randomUUID().slice(0, 8);
  private sequence = 0;
  private readonly seen: RecentIds | null;
  /** Writes the sealed batches, one run at a time; a timed run seals what is open first. */
  private readonly writer = new SerialRunner(() => {
    this.seal();
    return this.writeSealed();
  });
  private lastShedLog = 0;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: AggregatorSettings,
    private readonly metrics: SidecarMetrics,
    private readonly logger: Logger,
  ) {
    this.seen = settings.dedupeEntries > 0 ? new RecentIds(settings.dedupeEntries) : null;
  }

  add(event: UsageEvent): void {
    if (event.requestId && this.seen && !this.seen.add(event.requestId)) {
      this.metrics.entries.inc({ result: "duplicate" });
      return;
    }
    const id = `${event.keyId} ${event.minuteMs}`;
    let rollup = this.open.get(id);
    if (!rollup) {
      if (this.open.size + this.sealedRows >= this.settings.bufferRows) {
        this.shed();
        return;
      }
      rollup = {
        keyId: event.keyId,
        minuteMs: event.minuteMs,
        userId: event.userId,
        stripeCustomerId: event.stripeCustomerId,
        requests: 0,
        billable: 0,
        billableUnits: 0,
        bytesIn: 0,
        bytesOut: 0,
        status2xx: 0,
        status3xx: 0,
        status4xx: 0,
        status5xx: 0,
      };
      this.open.set(id, rollup);
    }
    rollup.requests += 1;
    if (event.billable) {
      rollup.billable += 1;
      rollup.billableUnits += event.units;
    }
    rollup.bytesIn += event.bytesIn;
    rollup.bytesOut += event.bytesOut;
    if (event.statusClass === 2) rollup.status2xx += 1;
    else if (event.statusClass === 3) rollup.status3xx += 1;
    else if (event.statusClass === 4) rollup.status4xx += 1;
    else if (event.statusClass === 5) rollup.status5xx += 1;
    if (event.stripeCustomerId) rollup.stripeCustomerId = event.stripeCustomerId;
    this.openEntries += 1;
    this.metrics.entries.inc({ result: event.billable ? "billed" : "not_billable" });
    if (this.open.size >= this.settings.batchRows) void this.flush();
  }

  start(): void {
    this.writer.every(this.settings.flushIntervalMs);
  }

  /**
   * Seals what is open and writes every sealed batch, in order, stopping at the first failure. A
   * write under way may have passed the batch just sealed, so a flush asked for meanwhile waits for
   * it and then writes once more (SerialRunner).
   */
  flush(): Promise<void> {
    this.seal();
    return this.writer.run();
  }

  async stop(): Promise<void> {
    await this.writer.stop();
    await this.flush();
  }

  /** Rows not yet in Postgres. */
  get pendingRows(): number {
    return this.open.size + this.sealedRows;
  }

  private seal(): void {
    if (this.open.size === 0) return;
    const batch = {
      id: `${this.instance}-${++this.sequence}`,
      rollups: [...this.open.values()],
      entries: this.openEntries,
    };
    this.sealed.push(batch);
    this.sealedRows += batch.rollups.length;
    this.open = new Map();
    this.openEntries = 0;
    this.metrics.bufferRows.set(this.pendingRows);
  }

  private async writeSealed(): Promise<void> {
    while (this.sealed.length > 0) {
      const batch = this.sealed[0] as Batch;
      const stop = this.metrics.flushDuration.startTimer();
      try {
        const written = await writeBatch(this.db, batch.id, batch.rollups, batch.entries);
        this.metrics.batches.inc({ result: written ? "written" : "already_written" });
      } catch (err) {
        this.metrics.batches.inc({ result: "failed" });
        this.logger.warn(
          { err: (err as Error).message, batch_id: batch.id, waiting_rows: this.sealedRows },
          "usage batch not written; will retry",
        );
        return;
      } finally {
        stop();
      }
      this.sealed.shift();
      this.sealedRows -= batch.rollups.length;
      this.metrics.bufferRows.set(this.pendingRows);
      this.logger.debug(
        { batch_id: batch.id, rows: batch.rollups.length, entries: batch.entries },
        "usage batch written",
      );
    }
  }

  private shed(): void {
    this.metrics.entries.inc({ result: "shed" });
    const now = Date.now();
    if (now - this.lastShedLog > 10_000) {
      this.lastShedLog = now;
      this.logger.error(
        { buffer_rows: this.settings.bufferRows },
        "usage buffer full (Postgres unreachable?): shedding access-log entries",
      );
    }
  }
}
