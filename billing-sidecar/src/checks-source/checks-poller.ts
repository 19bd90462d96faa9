import { type Logger, SerialRunner } from "@gateway/common";
import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import { advanceCursor, lockCursor, type Taken, takeSettledCounts } from "./checks.repository.js";
import type { ChecksSourceMetrics } from "./metrics.js";

export interface ChecksSourceSettings {
  pollIntervalMs: number;
  /** How long after a minute ends before it is taken: api-key-service's flush interval and a margin. */
  settleMs: number;
  /** Usage rows written per statement; a pass takes pages until it has caught up. */
  batchRows: number;
  /**
   * The first minute billed from checks when the cursor is created; default: the minute this poller
   * was made in (the sidecar's start), not that of its first pass, which may be the next minute.
   */
  billFrom?: Date;
}

const MINUTE_MS = 60_000;
/**
 * Rows updated this long before the cursor are looked at again. It covers an api-key-service flush
 * whose statement began (its updated_at) before the cursor moved but committed after, and clock skew
 * between api-key-service's hosts (which choose the minute) and Postgres (which sets updated_at).
 * Looking again is harmless: a row already taken is skipped.
 */
const SCAN_MARGIN_MS = 5 * MINUTE_MS;
const MAX_PAGES_PER_PASS = 20;

/**
 * BILLING_SOURCE=checks: every poll interval, takes the settled minutes of authz_counts that grew
 * since they were last taken into usage_minutes, in one transaction with the cursor. From there the
 * usual outbox bills them (and the backfill, those without a customer).
 */
export class ChecksPoller {
  private readonly passes = new SerialRunner(() =>
    this.pass().catch((err: Error) => {
      this.metrics.passes.inc({ result: "failed" });
      this.logger.warn({ err }, "checks not taken; will retry");
    }),
  );
  private billFromWarned = false;
  private readonly billFrom: Date;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly settings: ChecksSourceSettings,
    private readonly metrics: ChecksSourceMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    const startedAt = now();
    this.billFrom = settings.billFrom ?? new Date(startedAt - (startedAt % MINUTE_MS));
  }

  start(): void {
    this.passes.every(this.settings.pollIntervalMs);
  }

  stop(): Promise<void> {
    return this.passes.stop();
  }

  /**
   * One pass, which takes every count committed before the call: passes of this replica never
   * overlap, and one asked for while a pass is under way runs after it (SerialRunner). A failure is
   * logged and retried next time.
   */
  runOnce(): Promise<void> {
    return this.passes.run();
  }

  private async pass(): Promise<void> {
    for (let page = 0; page < MAX_PAGES_PER_PASS; page++) {
      const taken = await this.takePage();
      if (taken === "busy") {
        this.metrics.passes.inc({ result: "busy" });
        return;
      }
      this.metrics.rows.inc(taken.rows);
      this.metrics.units.inc(taken.units);
      this.metrics.unbilledUnits.inc(taken.unbilledUnits);
      if (taken.rows > 0)
        this.logger.info(
          { rows: taken.rows, units: taken.units, unbilled_units: taken.unbilledUnits },
          "usage taken from checks",
        );
      if (taken.rows < this.settings.batchRows) break;
    }
    this.metrics.passes.inc({ result: "taken" });
  }

  private takePage(): Promise<Taken | "busy"> {
    const now = this.now();
    return this.db.transaction().execute(async (trx) => {
      const cursor = await lockCursor(trx, this.billFrom);
      if (!cursor) return "busy";
      this.warnIfBillFromDiffers(cursor.billFrom);
      const settledAt = new Date(now - this.settings.settleMs);
      const taken = await takeSettledCounts(trx, {
        updatedFrom: new Date(cursor.scannedTo.getTime() - SCAN_MARGIN_MS),
        billFrom: cursor.billFrom,
        settledAt,
        limit: this.settings.batchRows,
      });
      // Every row a later pass could still need is not written yet, or was written in a minute not
      // yet settled, so after that minute began; a full page leaves the cursor where it is.
      if (taken.rows < this.settings.batchRows) {
        const scannedTo = await advanceCursor(trx, new Date(settledAt.getTime() - MINUTE_MS));
        this.metrics.cursorLag.set(Math.max(0, (Date.now() - scannedTo.getTime()) / 1000));
      }
      return taken;
    });
  }

  /** CHECKS_BILL_FROM is read when the cursor is created; a later, different value changes nothing. */
  private warnIfBillFromDiffers(stored: Date): void {
    const configured = this.settings.billFrom;
    if (!configured || this.billFromWarned || configured.getTime() === stored.getTime()) return;
    this.billFromWarned = true;
    this.logger.warn(
      { configured: configured.toISOString(), bill_from: stored.toISOString() },
      "CHECKS_BILL_FROM differs from the checks cursor's bill_from, which was set when it was created: the cursor's is used",
    );
  }
}
