/** A user's usage passed one of their plan's alert thresholds in a billing period. */
export interface QuotaCrossing {
  userId: string;
  planId: string;
  periodStart: Date;
  periodEnd: Date;
  /** The fraction of the quota that was passed, e.g. 0.8. */
  threshold: number;
  monthlyQuota: number;
  /** Units used in the period just after the crossing. */
  used: number;
}

/**
 * Told when a check takes a user's usage past a threshold. Called on the check path, so it must not
 * block or throw: implementations queue and write in batches. The same crossing may be reported by
 * several replicas (and again after a restart); the receiver keeps one per user, period and threshold.
 */
export interface QuotaAlerts {
  crossed(crossing: QuotaCrossing): void;
}

export const ignoreQuotaAlerts: QuotaAlerts = { crossed: () => {} };
