/** One billing period, [start, end) in Unix ms. */
export interface BillingPeriod {
  start: number;
  end: number;
}

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month + 1, 0)).getUTCDate();

/** The start of the period that begins in this month, for an anchor day and time of day. */
function startIn(year: number, month: number, day: number, timeOfDayMs: number): number {
  return Date.UTC(year, month, Math.min(day, daysIn(year, month))) + timeOfDayMs;
}

/**
 * The billing period that holds `nowMs`. With an anchor, each period starts on the anchor's day of
 * the month and time of day (UTC), on the month's last day when the month is shorter (an anchor on
 * the 31st starts February's period on the 28th or 29th and March's on the 31st); without one,
 * periods are calendar months in UTC.
 */
export function billingPeriod(anchor: Date | number | null, nowMs: number): BillingPeriod {
  const anchorMs =
    anchor === null ? Date.UTC(2000, 0, 1) : typeof anchor === "number" ? anchor : anchor.getTime();
  const a = new Date(anchorMs);
  const day = a.getUTCDate();
  const timeOfDay = anchorMs - Date.UTC(a.getUTCFullYear(), a.getUTCMonth(), day);
  const now = new Date(nowMs);
  let year = now.getUTCFullYear();
  let month = now.getUTCMonth();
  if (nowMs < startIn(year, month, day, timeOfDay)) {
    month -= 1;
    if (month < 0) {
      month = 11;
      year -= 1;
    }
  }
  const start = startIn(year, month, day, timeOfDay);
  const end = month === 11 ? startIn(year + 1, 0, day, timeOfDay) : startIn(year, month + 1, day, timeOfDay);
  return { start, end };
}

/** Seconds from `nowMs` to the period's end, at least 1: a Retry-After for a used-up quota. */
export const secondsToEnd = (period: BillingPeriod, nowMs: number) =>
  Math.max(1, Math.ceil((period.end - nowMs) / 1000));
