import { unauthenticatedCounter } from "@gateway/common";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";

export class SidecarMetrics {
  readonly streams: Gauge;
  readonly entries: Counter<"result">;
  readonly invalidUnits: Counter;
  readonly batches: Counter<"result">;
  readonly bufferRows: Gauge;
  readonly flushDuration: Histogram;
  readonly stripeEvents: Counter<"result">;
  readonly unauthenticated: Counter<"service">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.streams = new Gauge({
      name: "als_streams_active",
      help: "Open access-log streams (about one per Envoy worker)",
      registers,
    });
    this.entries = new Counter({
      name: "als_entries_total",
      help: "Access-log entries by what became of them: billed, not_billable, no_identity, denied, duplicate, shed, tcp_ignored, ignored_checks_source (BILLING_SOURCE=checks)",
      labelNames: ["result"],
      registers,
    });
    this.invalidUnits = new Counter({
      name: "sidecar_invalid_units_total",
      help: "Entries whose ext_authz units were not a whole number in 1..1000000: counted, billed as 1 unit",
      registers,
    });
    this.batches = new Counter({
      name: "usage_batches_total",
      help: "Usage batch writes: written, already_written (a retry found it done), failed (kept for retry)",
      labelNames: ["result"],
      registers,
    });
    this.bufferRows = new Gauge({
      name: "usage_buffer_rows",
      help: "Rollup rows waiting to be written",
      registers,
    });
    this.flushDuration = new Histogram({
      name: "usage_flush_duration_seconds",
      help: "Time to write one usage batch",
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.stripeEvents = new Counter({
      name: "stripe_meter_events_total",
      help: "Stripe meter event calls: delivered, duplicate (Stripe had it: delivered), rate_limited, retry, refused (dead letter)",
      labelNames: ["result"],
      registers,
    });
    this.unauthenticated = unauthenticatedCounter(registry);
  }
}
