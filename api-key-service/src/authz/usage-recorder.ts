import { type Logger, SerialRunner } from "@gateway/common";
import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import type { AuthzMetrics } from "./metrics.js";
import { addAuthzCounts, type CountRow, touchLastUsed } from "./usage.repository.js";

const MINUTE_MS = 60_000;
/** Rows per statement: each batch's JSON is built between other work, not in one long stall. */
const BATCH_ROWS = 500;
/** last_used_at is exact to the minute: writing it on every flush would update every busy key every second. */
const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * Counts allowed and denied checks per key and minute, and each key's last use, in memory; writes
 * them to Postgres in batches every flush interval, never one write per request. While Postgres is
 * away the counts keep accumulating up to `maxPending` rows, then further rows are dropped and counted.
 */
export class UsageRecorder {
  /** Rows by minute, then by key: no string is built per check to find its row. */
  private pending = new Map<number, Map<string, CountRow>>();
  private pendingRows = 0;
  private lastUsed = new Map<string, number>();
  /** When each key's last_used_at was last written: it is refreshed at most once a minute. */
  // A Map pruned at each flush of what is over a minute old (that no longer holds a write back)
  // rather than a large LRU: an LRU preallocates its full size, which the garbage collector then
  // walks on every full collection (1,000,000 entries cost 16 MB of heap and 12 MB outside it).
  private lastWritten = new Map<string, number>();
  private readonly writer = new SerialRunner(() => this.write());

  constructor(
    private readonly db: Kysely<Database>,
    private readonly metrics: AuthzMetrics,
    private readonly logger: Logger,
    private readonly settings: { flushIntervalMs: number; maxPending: number },
  ) {}

  /** Counts one check; an allowed one adds its `units` (its cost) to the minute's admitted units. */
  record(keyId: string, allowed: boolean, nowMs: number, units = 1): void {
    const minuteMs = nowMs - (nowMs % MINUTE_MS);
    const minute = this.rowsOf(minuteMs);
    let row = minute.get(keyId);
    if (!row) {
      if (this.pendingRows >= this.settings.maxPending) {
        this.metrics.countsDropped.inc();
        return;
      }
      row = { keyId, minuteMs, allowed: 0, denied: 0, allowedUnits: 0 };
      minute.set(keyId, row);
      this.pendingRows += 1;
    }
    if (allowed) {
      row.allowed += 1;
      row.allowedUnits += units;
      // The first use since the last flush is kept: later ones in the same few seconds change
      // nothing at a minute's resolution, and would each store a new number.
      if (!this.lastUsed.has(keyId) && nowMs - (this.lastWritten.get(keyId) ?? 0) >= LAST_USED_RESOLUTION_MS)
        this.lastUsed.set(keyId, nowMs);
    } else {
      row.denied += 1;
    }
  }

  start(): void {
    this.writer.every(this.settings.flushIntervalMs);
  }

  /**
   * Writes everything recorded before the call; a failed batch is kept for the next flush. A write
   * under way took only what was pending when it began, so a flush asked for meanwhile waits for it
   * and then writes once more (SerialRunner).
   */
  flush(): Promise<void> {
    return this.writer.run();
  }

  async stop(): Promise<void> {
    await this.writer.stop();
    await this.flush();
  }

  private async write(): Promise<void> {
    const rows = [...this.pending.values()].flatMap((minute) => [...minute.values()]);
    const lastUsed = this.lastUsed;
    if (rows.length === 0 && lastUsed.size === 0) return;
    this.pending = new Map();
    this.pendingRows = 0;
    this.lastUsed = new Map();
    let written = 0;
    try {
      while (written < rows.length) {
        const batch = rows.slice(written, written + BATCH_ROWS);
        await addAuthzCounts(this.db, batch);
        written += batch.length;
      }
      await touchLastUsed(this.db, lastUsed);
      for (const [id, ms] of lastUsed) this.lastWritten.set(id, ms);
      this.forgetOldWrites();
    } catch (err) {
      this.metrics.errors.inc({ dependency: "postgres", operation: "usage_flush" });
      const left = rows.length - written;
      this.logger.warn(
        { err: (err as Error).message, rows: left },
        "could not write authz counts; will retry",
      );
      // Batches already written stay written; only the rest is kept, so nothing is counted twice.
      this.restore(rows.slice(written), lastUsed);
    }
  }

  private rowsOf(minuteMs: number): Map<string, CountRow> {
    let minute = this.pending.get(minuteMs);
    if (!minute) {
      minute = new Map();
      this.pending.set(minuteMs, minute);
    }
    return minute;
  }

  /** Drops what no longer matters: a key last written over a minute ago is written again anyway. */
  private forgetOldWrites(): void {
    const cutoff = Date.now() - LAST_USED_RESOLUTION_MS;
    for (const [id, ms] of this.lastWritten) if (ms <= cutoff) this.lastWritten.delete(id);
  }

  private restore(rows: CountRow[], lastUsed: Map<string, number>): void {
    for (const row of rows) {
      const minute = this.rowsOf(row.minuteMs);
      const current = minute.get(row.keyId);
      if (current) {
        current.allowed += row.allowed;
        current.denied += row.denied;
        current.allowedUnits += row.allowedUnits;
      } else if (this.pendingRows < this.settings.maxPending) {
        minute.set(row.keyId, row);
        this.pendingRows += 1;
      } else {
        this.metrics.countsDropped.inc();
      }
    }
    for (const [keyId, at] of lastUsed) {
      const newer = this.lastUsed.get(keyId);
      if (!newer || newer < at) this.lastUsed.set(keyId, at);
    }
  }
}
