import { UNBILLABLE_NO_CUSTOMER, UNBILLABLE_SET_TOO_LATE } from "../src/usage/usage.service.js";
import { describe, expect, test } from "./fixtures.js";

const DAY = 86_400_000;
const lastMinute = Math.floor(Date.now() / 60_000) * 60_000 - 60_000;
/** A minute `n` days back; each in a day of its own, so a day window holds one row. */
const daysAgo = (n: number) => new Date(lastMinute - n * DAY);
/** The day window a minute falls in, as the API writes it. */
const dayOf = (at: Date) => new Date(Math.floor(at.getTime() / DAY) * DAY).toISOString();

describe("GET /api/usage: usage recorded without a Stripe customer", () => {
  test("per window: unbilled while Stripe would take it, backfilled once billed, unbillable with the reason", async ({
    api,
  }) => {
    const key = await api.createKey({ user_id: "trial" });
    const row = (at: Date, units: number) =>
      api.query(
        `insert into usage_minutes (key_id, minute, user_id, requests, billable_requests, billable_units)
         values ($1, $2, 'trial', $3, $3, $3)`,
        [key.id, at, units],
      );
    await row(daysAgo(0), 7); // no customer yet
    await row(daysAgo(20), 4); // billed by a backfill, below
    await api.query(
      `update usage_minutes set backfilled_units = 4, backfill_customer_id = 'cus_Late', backfilled_at = now()
        where key_id = $1 and minute = $2`,
      [key.id, daysAgo(20)],
    );
    await api.query(
      `insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, status, kind)
       values ('bf:x', 'cus_Late', 'api_requests', $1, 4, 'sent', 'backfill')`,
      [daysAgo(20)],
    );
    await row(daysAgo(34), 3); // the sidecar found it too close to the 35-day line when the customer came
    await api.query(
      `update usage_minutes set unbillable_units = 3, backfill_customer_id = 'cus_Late', backfilled_at = now()
        where key_id = $1 and minute = $2`,
      [key.id, daysAgo(34)],
    );
    await row(daysAgo(40), 5); // never had a customer while Stripe would have taken it

    const from = new Date(lastMinute - 45 * DAY).toISOString();
    const res = await api.request("GET", `/api/usage?user_id=trial&granularity=day&from=${from}`);
    expect(res.status).toBe(200);
    const window = (n: number) =>
      res.body.data.find((w: { window_start: string }) => w.window_start === dayOf(daysAgo(n)));
    expect(window(0)).toMatchObject({
      billable_units: 7,
      unbilled_units: 7,
      backfilled_units: 0,
      unbillable_units: 0,
      unbillable_reason: null,
    });
    expect(window(20)).toMatchObject({
      billable_units: 4,
      unbilled_units: 0,
      backfilled_units: 4,
      unbillable_units: 0,
    });
    expect(window(34)).toMatchObject({
      unbilled_units: 0,
      unbillable_units: 3,
      unbillable_reason: UNBILLABLE_SET_TOO_LATE,
    });
    expect(window(40)).toMatchObject({
      unbilled_units: 0,
      unbillable_units: 5,
      unbillable_reason: UNBILLABLE_NO_CUSTOMER,
    });
    expect(res.body.totals).toMatchObject({
      billable_units: 19,
      unbilled_units: 7,
      backfilled_units: 4,
      unbillable_units: 8,
    });
    // The backfill's events are in the Stripe days of the customer it billed.
    expect(res.body.stripe).toEqual([
      {
        stripe_customer_id: "cus_Late",
        day: daysAgo(20).toISOString().slice(0, 10),
        sent: 4,
        pending: 0,
        dead: 0,
      },
    ]);

    const csv = await api.request("GET", `/api/usage?user_id=trial&granularity=day&from=${from}&format=csv`);
    const lines = csv.text.split("\r\n");
    expect(lines[0]).toMatch(/,unbilled_units,backfilled_units,unbillable_units,unbillable_reason$/);
    // The reason holds a comma: quoted.
    expect(lines.find((l) => l.includes(dayOf(daysAgo(40))))).toMatch(
      new RegExp(`,0,0,5,"${UNBILLABLE_NO_CUSTOMER}"$`),
    );
    expect(lines.find((l) => l.includes(dayOf(daysAgo(0))))).toMatch(/,7,0,0,$/);
  });
});
