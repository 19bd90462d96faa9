import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import type { QuotaBaseline, RedisRateLimiter } from "../authz/redis-limiter.js";
import { AppError } from "../errors.js";
import { billingPeriod } from "./billing-period.js";

export interface QuotaView {
  user_id: string;
  plan_id: string | null;
  period_start: string;
  period_end: string;
  /** Units per period; null: no quota (no plan, or an unlimited one). */
  monthly_quota: number | null;
  used: number;
  /** null without a quota. */
  remaining: number | null;
  overage: "block" | "bill" | null;
}

/**
 * A user's quota in the current billing period. With a quota, `used` is the live counter the check
 * counts against (rebuilt from Postgres first if Redis lost it), so it is exact; without one no
 * counter is kept and `used` is what the service has flushed to Postgres (behind by up to
 * AUTHZ_FLUSH_INTERVAL).
 */
export class QuotaService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly limiter: Pick<RedisRateLimiter, "quotaUsed">,
    private readonly flushedUnits: QuotaBaseline,
    private readonly now: () => number = Date.now,
  ) {}

  async get(userId: string): Promise<QuotaView> {
    const row = await this.db
      .selectFrom("users as u")
      .leftJoin("plans as p", "p.id", "u.plan_id")
      .select(["u.user_id", "u.billing_cycle_anchor", "p.id as plan_id", "p.monthly_quota", "p.overage"])
      .where("u.user_id", "=", userId)
      .executeTakeFirst();
    if (!row) throw AppError.notFound("user");
    const now = this.now();
    const period = billingPeriod(row.billing_cycle_anchor, now);
    const quota = row.monthly_quota === null ? null : Number(row.monthly_quota);
    const used =
      quota === null
        ? await this.flushedUnits(userId, period.start, period.end)
        : await this.limiter.quotaUsed(
            userId,
            { limit: quota, periodStart: period.start, periodEnd: period.end, block: row.overage !== "bill" },
            now,
          );
    return {
      user_id: row.user_id,
      plan_id: row.plan_id,
      period_start: new Date(period.start).toISOString(),
      period_end: new Date(period.end).toISOString(),
      monthly_quota: quota,
      used,
      remaining: quota === null ? null : Math.max(0, quota - used),
      overage: row.plan_id === null ? null : (row.overage ?? "block"),
    };
  }
}
