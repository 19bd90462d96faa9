import { describe, expect, startSidecar, test } from "./fixtures.js";

function gauge(metrics: string, name: string): number | undefined {
  const line = metrics.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(" ")[1]);
}

describe("the reconciliation gap on /metrics", () => {
  test("allowed checks minus logged requests over the last settled hour, per scrape", async ({
    services,
  }) => {
    const sidecar = await startSidecar(services);
    try {
      const minute = (ago: number) => new Date(Math.floor(Date.now() / 60_000) * 60_000 - ago * 60_000);
      const counts = (key: string, at: Date, allowed: number) =>
        sidecar.query("insert into authz_counts (key_id, minute, allowed, denied) values ($1, $2, $3, 0)", [
          key,
          at,
          allowed,
        ]);
      const usage = (key: string, at: Date, requests: number) =>
        sidecar.query(
          `insert into usage_minutes (key_id, minute, user_id, requests, billable_requests)
           values ($1, $2, 'u', $3, $3)`,
          [key, at, requests],
        );
      await counts("key_a", minute(10), 100);
      await usage("key_a", minute(10), 97); // the access log lost 3
      await counts("key_b", minute(30), 20);
      await usage("key_b", minute(30), 20);
      await counts("key_c", minute(45), 5); // nothing logged at all: 5 lost
      // Outside the window: too recent to have settled, and over an hour old.
      await counts("key_a", minute(0), 50);
      await counts("key_a", minute(90), 50);
      await usage("key_a", minute(90), 1);

      let metrics = await sidecar.metricsText();
      expect(gauge(metrics, "usage_reconciliation_allowed_checks")).toBe(125);
      expect(gauge(metrics, "usage_reconciliation_logged_requests")).toBe(117);
      expect(gauge(metrics, "usage_reconciliation_gap_requests")).toBe(8);

      // Read afresh on every scrape.
      await usage("key_c", minute(45), 5);
      metrics = await sidecar.metricsText();
      expect(gauge(metrics, "usage_reconciliation_gap_requests")).toBe(3);
    } finally {
      await sidecar.close();
    }
  });
});

describe("the outbox lag on /metrics", () => {
  test("seconds since the oldest pending meter event was enqueued; 0 with nothing pending", async ({
    services,
  }) => {
    const sidecar = await startSidecar(services);
    try {
      expect(gauge(await sidecar.metricsText(), "stripe_outbox_oldest_pending_age_seconds")).toBe(0);
      const event = (id: string, agoS: number, status: string) =>
        sidecar.query(
          `insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, status, created_at)
           values ($1, 'cus_A', 'api_requests', now(), 1, $2, now() - make_interval(secs => $3))`,
          [id, status, agoS],
        );
      await event("sent-long-ago", 7_200, "sent");
      await event("dead-long-ago", 7_200, "dead");
      await event("pending-old", 600, "pending");
      await event("pending-new", 5, "pending");
      const lag = gauge(await sidecar.metricsText(), "stripe_outbox_oldest_pending_age_seconds") ?? 0;
      expect(lag).toBeGreaterThanOrEqual(600);
      expect(lag).toBeLessThan(660);
    } finally {
      await sidecar.close();
    }
  });
});
