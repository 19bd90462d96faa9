import { Counter, Gauge, type Registry } from "prom-client";

/** BILLING_SOURCE=checks: what the sidecar takes from api-key-service's counts. */
export class ChecksSourceMetrics {
  readonly passes: Counter<"result">;
  readonly rows: Counter;
  readonly units: Counter;
  readonly unbilledUnits: Counter;
  readonly cursorLag: Gauge;

  constructor(registry: Registry) {
    const registers = [registry];
    this.passes = new Counter({
      name: "checks_source_passes_total",
      help: "Passes over authz_counts: taken, busy (another replica was taking), failed (retried next interval)",
      labelNames: ["result"],
      registers,
    });
    this.rows = new Counter({
      name: "checks_source_rows_total",
      help: "Usage rows created or raised from authz_counts",
      registers,
    });
    this.units = new Counter({
      name: "checks_source_units_total",
      help: "Billable units taken from authz_counts into usage rows",
      registers,
    });
    this.unbilledUnits = new Counter({
      name: "checks_source_unbilled_units_total",
      help: "Of the units taken, those of keys without a Stripe customer (billed once one is set)",
      registers,
    });
    this.cursorLag = new Gauge({
      name: "checks_source_cursor_lag_seconds",
      help: "How far behind now the checks cursor is: about CHECKS_SETTLE plus a minute when keeping up",
      registers,
    });
  }
}
