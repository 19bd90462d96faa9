import type { Logger } from "@gateway/common";
import type { SidecarMetrics } from "../metrics.js";
import type { UsageEvent } from "../usage/entry.js";

const LOG_EVERY_MS = 60_000;

/**
 * Where access-log entries go when BILLING_SOURCE=checks: the checks already bill those requests,
 * so an entry is counted (`als_entries_total{result="ignored_checks_source"}`) and dropped, with a
 * warning at most once a minute. Envoy still streams, so the port stays up and Envoy logs nothing.
 */
export class IgnoredAccessLog {
  private ignored = 0;
  private lastLog = 0;

  constructor(
    private readonly metrics: SidecarMetrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  add(_event: UsageEvent): void {
    this.metrics.entries.inc({ result: "ignored_checks_source" });
    this.ignored += 1;
    const now = this.now();
    if (now - this.lastLog < LOG_EVERY_MS) return;
    this.lastLog = now;
    this.logger.warn(
      { entries: this.ignored },
      "BILLING_SOURCE=checks: access-log entries are not billed (usage is taken from allowed checks)",
    );
    this.ignored = 0;
  }
}
