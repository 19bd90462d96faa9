import { describe, expect, test } from "vitest";
import { billingPeriod } from "../src/plans/billing-period.js";

const iso = (ms: number) => new Date(ms).toISOString();
const period = (anchor: string | null, now: string) => {
  const p = billingPeriod(anchor === null ? null : new Date(anchor), Date.parse(now));
  return [iso(p.start), iso(p.end)];
};

describe("billing periods", () => {
  test("calendar months in UTC without an anchor", () => {
    expect(period(null, "2026-02-14T10:00:00Z")).toEqual([
      "2026-02-01T00:00:00.000Z",
      "2026-03-01T00:00:00.000Z",
    ]);
    expect(period(null, "2026-12-31T23:59:59.999Z")).toEqual([
      "2026-12-01T00:00:00.000Z",
      "2027-01-01T00:00:00.000Z",
    ]);
    expect(period(null, "2027-01-01T00:00:00Z")).toEqual([
      "2027-01-01T00:00:00.000Z",
      "2027-02-01T00:00:00.000Z",
    ]);
  });

  test("an anchor sets the day of the month and the time of day", () => {
    const anchor = "2026-03-15T09:30:00Z";
    expect(period(anchor, "2026-06-15T09:29:59Z")).toEqual([
      "2026-05-15T09:30:00.000Z",
      "2026-06-15T09:30:00.000Z",
    ]);
    expect(period(anchor, "2026-06-15T09:30:00Z")).toEqual([
      "2026-06-15T09:30:00.000Z",
      "2026-07-15T09:30:00.000Z",
    ]);
    expect(period(anchor, "2027-01-03T00:00:00Z")).toEqual([
      "2026-12-15T09:30:00.000Z",
      "2027-01-15T09:30:00.000Z",
    ]);
  });

  test("an anchor on the 31st is clamped to each month's last day", () => {
    const anchor = "2026-01-31T00:00:00Z";
    expect(period(anchor, "2026-02-10T00:00:00Z")).toEqual([
      "2026-01-31T00:00:00.000Z",
      "2026-02-28T00:00:00.000Z",
    ]);
    expect(period(anchor, "2026-03-01T00:00:00Z")).toEqual([
      "2026-02-28T00:00:00.000Z",
      "2026-03-31T00:00:00.000Z",
    ]);
    expect(period(anchor, "2028-02-29T12:00:00Z")).toEqual([
      "2028-02-29T00:00:00.000Z",
      "2028-03-31T00:00:00.000Z",
    ]);
    expect(period(anchor, "2026-04-30T00:00:00Z")).toEqual([
      "2026-04-30T00:00:00.000Z",
      "2026-05-31T00:00:00.000Z",
    ]);
  });

  test("every instant falls in exactly one period, and periods follow each other without gaps", () => {
    for (const anchor of [null, "2025-01-31T23:00:00Z", "2024-02-29T06:00:00Z", "2026-07-01T00:00:00Z"]) {
      let now = Date.parse("2026-01-01T00:00:00Z");
      let previous = billingPeriod(anchor === null ? null : new Date(anchor), now);
      for (let i = 0; i < 800; i++) {
        now += 13 * 3_600_000 + 7;
        const p = billingPeriod(anchor === null ? null : new Date(anchor), now);
        expect(p.start).toBeLessThanOrEqual(now);
        expect(now).toBeLessThan(p.end);
        if (p.start !== previous.start) expect(p.start).toBe(previous.end);
        previous = p;
      }
    }
  });
});
