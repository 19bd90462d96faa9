import type { Overage, PlanRow } from "@gateway/db";

/** What the API shows of a plan. */
export interface PlanView {
  id: string;
  name: string;
  rate_limit_per_minute: number | null;
  rate_limit_per_day: number | null;
  /** Units per billing period; null: unlimited. */
  monthly_quota: number | null;
  overage: Overage;
  alert_thresholds: number[];
  created_at: string;
  updated_at: string;
}

export function toPlanView(row: PlanRow): PlanView {
  return {
    id: row.id,
    name: row.name,
    rate_limit_per_minute: row.rate_limit_per_minute,
    rate_limit_per_day: row.rate_limit_per_day,
    // bigint comes back as a string; quotas stay below 2^53 (at most 1e15), so a number is exact.
    monthly_quota: row.monthly_quota === null ? null : Number(row.monthly_quota),
    overage: row.overage,
    alert_thresholds: row.alert_thresholds,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
