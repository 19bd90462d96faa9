import { Counter, type Registry } from "prom-client";

export class WebhookMetrics {
  readonly events: Counter<"type" | "outcome">;
  readonly publishFailures: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.events = new Counter({
      name: "stripe_webhook_events_total",
      help: "Stripe webhook deliveries by event type (other: a type the policy has no action for; unverified: refused before it was read) and outcome: applied, stale (a newer event was applied first), ignored, duplicate, rejected (400), failed (500)",
      labelNames: ["type", "outcome"],
      registers,
    });
    this.publishFailures = new Counter({
      name: "stripe_webhook_publish_failures_total",
      help: "Suspension changes committed but not announced on Redis: replicas learn them at KEY_CACHE_TTL",
      registers,
    });
  }
}
