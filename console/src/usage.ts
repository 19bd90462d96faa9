import { call } from "./api.js";
import type { Page, StripeDay, UsageReport, UsageWindow, UserSummary } from "./types.js";

export type Span = "day" | "month";

/** Last 24 hours by hour, or the last 30 days by day: windows aligned to whole UTC hours or days. */
export function spanRange(
  span: Span,
  now = Date.now(),
): { from: string; to: string; granularity: "hour" | "day" } {
  const unit = span === "day" ? 3_600_000 : 86_400_000;
  const to = Math.ceil(now / unit) * unit;
  const from = to - (span === "day" ? 24 : 30) * unit;
  return {
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    granularity: span === "day" ? "hour" : "day",
  };
}

export interface WindowTotals {
  window_start: string;
  allowed: number;
  denied: number;
  requests: number;
  billable_units: number;
  gap: number;
}

export interface Overview {
  windows: WindowTotals[];
  stripe: StripeDay[];
  users: number;
  /** Users beyond what one overview reads (the first MAX_USERS by id are summed). */
  truncated: boolean;
}

const MAX_USERS = 500;

/** Every user's id, by id, up to MAX_USERS. */
async function userIds(): Promise<{ ids: string[]; truncated: boolean }> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<UserSummary> = await call("GET", "/api/users", { query: { limit: 100, cursor } });
    ids.push(...page.data.map((u) => u.user_id));
    cursor = page.next_cursor;
  } while (cursor && ids.length < MAX_USERS);
  return { ids: ids.slice(0, MAX_USERS), truncated: cursor !== null || ids.length > MAX_USERS };
}

/**
 * GET /api/usage for one user, or for each user (four at a time) summed: the API reports per user, key
 * or customer, so "all users" is the sum of every user's report.
 */
export async function loadOverview(userId: string | null, span: Span): Promise<Overview> {
  const range = spanRange(span);
  const { ids, truncated } = userId ? { ids: [userId], truncated: false } : await userIds();
  const reports: UsageReport[] = [];
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const id = ids[next++] as string;
      reports.push(await call<UsageReport>("GET", "/api/usage", { query: { user_id: id, ...range } }));
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return {
    windows: sumWindows(reports.flatMap((r) => r.data)),
    stripe: mergeStripe(reports),
    users: ids.length,
    truncated,
  };
}

export function sumWindows(rows: UsageWindow[]): WindowTotals[] {
  const byStart = new Map<string, WindowTotals>();
  for (const row of rows) {
    const sum = byStart.get(row.window_start) ?? {
      window_start: row.window_start,
      allowed: 0,
      denied: 0,
      requests: 0,
      billable_units: 0,
      gap: 0,
    };
    sum.allowed += row.allowed;
    sum.denied += row.denied;
    sum.requests += row.requests;
    sum.billable_units += row.billable_units;
    sum.gap += row.gap;
    byStart.set(row.window_start, sum);
  }
  return [...byStart.values()].sort((a, b) => a.window_start.localeCompare(b.window_start));
}

/** Users who share a Stripe customer see the same customer's days: each is counted once. */
function mergeStripe(reports: UsageReport[]): StripeDay[] {
  const seen = new Map<string, StripeDay>();
  for (const day of reports.flatMap((r) => r.stripe)) seen.set(`${day.stripe_customer_id} ${day.day}`, day);
  return [...seen.values()].sort(
    (a, b) => a.day.localeCompare(b.day) || a.stripe_customer_id.localeCompare(b.stripe_customer_id),
  );
}

/** Denied checks by reason, from this replica's Prometheus counters (public, since it started). */
export async function deniedByReason(): Promise<{ reason: string; count: number }[]> {
  const res = await fetch("/metrics", { credentials: "omit" });
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  const text = await res.text();
  const counts = new Map<string, number>();
  for (const match of text.matchAll(/^authz_checks_total\{([^}]*)\} (\S+)$/gm)) {
    const labels = match[1] ?? "";
    if (!labels.includes('outcome="denied"')) continue;
    const reason = /reason="([^"]*)"/.exec(labels)?.[1] || "unknown";
    counts.set(reason, (counts.get(reason) ?? 0) + Number(match[2]));
  }
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((a, b) => b.count - a.count);
}
