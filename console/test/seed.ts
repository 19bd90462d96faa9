import type { Api } from "../../api-key-service/test/fixtures.js";

/** Checks, delivered requests and Stripe meter events at `at(hoursAgo)`, written as the sidecar writes them. */
export async function seedUsage(
  api: Api,
  rows: {
    key: { id: string; user_id: string };
    at: string;
    allowed: number;
    denied: number;
    requests: number;
    units: number;
    customer: string | null;
  }[],
  stripe: { customer: string; at: string; value: number; status: "sent" | "pending" | "dead" }[] = [],
): Promise<void> {
  for (const r of rows) {
    await api.query("insert into authz_counts (key_id, minute, allowed, denied) values ($1, $2, $3, $4)", [
      r.key.id,
      r.at,
      r.allowed,
      r.denied,
    ]);
    await api.query(
      `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                  billable_units, status_2xx)
       values ($1, $2, $3, $4, $5, $5, $6, $5)`,
      [r.key.id, r.at, r.key.user_id, r.customer, r.requests, r.units],
    );
  }
  for (const [i, s] of stripe.entries()) {
    await api.query(
      `insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, status)
       values ($1, $2, 'api_requests', $3, $4, $5)`,
      [`seed-${i}`, s.customer, s.at, s.value, s.status],
    );
  }
}
