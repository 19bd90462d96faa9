import { describe, expect, test } from "./fixtures.js";

const H = Date.UTC(2026, 10, 20, 9, 0, 0);
const at = (minutes: number) => new Date(H + minutes * 60_000).toISOString();

describe("GET /api/usage", () => {
  test("per key and window: allowed, denied, delivered, billable requests and units, the gap, and Stripe per customer and day", async ({
    api,
  }) => {
    const key = await api.createKey({ user_id: "acme" });
    const other = await api.createKey({ user_id: "acme" });
    const stranger = await api.createKey({ user_id: "zed" });
    await api.query(
      `insert into authz_counts (key_id, minute, allowed, denied) values
         ($1, $4, 10, 2), ($1, $5, 5, 0), ($2, $4, 3, 0), ($3, $4, 99, 0)`,
      [key.id, other.id, stranger.id, at(0), at(61)],
    );
    await api.query(
      `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                  billable_units, status_2xx, status_5xx)
       values ($1, $3, 'acme', 'cus_Acme', 9, 8, 80, 8, 1), ($1, $4, 'acme', 'cus_Acme', 5, 5, 5, 5, 0),
              ($2, $3, 'acme', 'cus_Acme', 3, 3, 60, 3, 0)`,
      [key.id, other.id, at(0), at(61)],
    );
    await api.query(
      `insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, status)
       values ('i1', 'cus_Acme', 'api_requests', $1, 11, 'sent'), ('i2', 'cus_Acme', 'api_requests', $2, 5, 'pending')`,
      [at(0), at(61)],
    );

    const res = await api.request(
      "GET",
      `/api/usage?user_id=acme&from=${at(0)}&to=${at(180)}&granularity=hour`,
    );
    expect(res.status).toBe(200);
    const byKey = (id: string) => res.body.data.filter((w: { key_id: string }) => w.key_id === id);
    expect(byKey(key.id)).toEqual([
      expect.objectContaining({
        window_start: at(0),
        allowed: 10,
        denied: 2,
        requests: 9,
        billable_requests: 8,
        billable_units: 80,
        gap: 1,
      }),
      expect.objectContaining({ window_start: at(60), allowed: 5, requests: 5, billable_units: 5, gap: 0 }),
    ]);
    expect(byKey(other.id)).toEqual([
      expect.objectContaining({ allowed: 3, requests: 3, billable_requests: 3, billable_units: 60, gap: 0 }),
    ]);
    expect(byKey(stranger.id)).toEqual([]);
    expect(res.body.totals).toEqual({
      allowed: 18,
      requests: 17,
      billable_requests: 16,
      billable_units: 145,
      gap: 1,
      unbilled_units: 0,
      backfilled_units: 0,
      unbillable_units: 0,
    });
    expect(res.body.stripe).toEqual([
      { stripe_customer_id: "cus_Acme", day: "2026-11-20", sent: 11, pending: 5, dead: 0 },
    ]);

    const minutes = await api.request(
      "GET",
      `/api/usage?key_id=${key.id}&from=${at(0)}&to=${at(120)}&granularity=minute`,
    );
    expect(minutes.body.data.map((w: { window_start: string }) => w.window_start)).toEqual([at(0), at(61)]);

    // Finance asks by Stripe customer: the same windows for every key billed to it, and its Stripe days.
    const byCustomer = await api.request(
      "GET",
      `/api/usage?stripe_customer_id=cus_Acme&from=${at(0)}&to=${at(180)}&granularity=hour`,
    );
    expect(byCustomer.status).toBe(200);
    expect(byCustomer.body.data).toEqual(res.body.data);
    expect(byCustomer.body.totals).toEqual(res.body.totals);
    expect(byCustomer.body.stripe).toEqual(res.body.stripe);
    const nobody = await api.request(
      "GET",
      `/api/usage?stripe_customer_id=cus_Nobody&from=${at(0)}&to=${at(180)}`,
    );
    expect(nobody.body).toMatchObject({ data: [], stripe: [] });
    const both = await api.request("GET", `/api/usage?user_id=acme&stripe_customer_id=cus_Acme`);
    expect(both.status).toBe(400);
  });

  test("CSV with format=csv or Accept: text/csv", async ({ api }) => {
    const key = await api.createKey({ user_id: "acme" });
    await api.query("insert into authz_counts (key_id, minute, allowed, denied) values ($1, $2, 4, 1)", [
      key.id,
      at(0),
    ]);
    await api.query(
      `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                  billable_units, status_2xx)
       values ($1, $2, 'acme', 'cus_Acme', 3, 3, 60, 3)`,
      [key.id, at(0)],
    );
    const query = `/api/usage?key_id=${key.id}&from=${at(0)}&to=${at(60)}`;
    for (const res of [
      await api.request("GET", `${query}&format=csv`),
      await api.request("GET", query, { headers: { accept: "text/csv" } }),
    ]) {
      expect(res.status).toBe(200);
      expect(res.headers.get("content-type")).toContain("text/csv");
      expect(res.text.split("\r\n")).toEqual([
        "key_id,window_start,allowed,denied,requests,billable_requests,billable_units,gap,bytes_in,bytes_out,status_2xx,status_3xx,status_4xx,status_5xx,unbilled_units,backfilled_units,unbillable_units,unbillable_reason",
        `${key.id},${at(0)},4,1,3,3,60,1,0,0,3,0,0,0,0,0,0,`,
        "",
      ]);
    }
  });

  test("refuses a missing or double subject, bad dates and spans too long for the granularity", async ({
    api,
  }) => {
    for (const [query, field] of [
      ["", "user_id"],
      ["user_id=a&key_id=key_0000000000000000000000", "user_id"],
      ["user_id=a&from=yesterday", "from"],
      [`user_id=a&from=${at(60)}&to=${at(0)}`, "to"],
      [`user_id=a&from=${at(0)}&to=${at(60 * 48)}&granularity=minute`, "to"],
      ["user_id=a&granularity=week", "granularity"],
    ] as const) {
      const res = await api.request("GET", `/api/usage?${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body.errors[0].field, query).toBe(field);
    }
  });
});
