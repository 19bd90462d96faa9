import { sql } from "kysely";
import { stripeByDay, usageByWindow } from "../src/usage/usage.repository.js";
import { stripeByDayForCustomer, usageByCustomer } from "../src/usage/usage-by-customer.js";
import { describe, expect, test } from "./db-fixture.js";

const H = new Date("2026-11-20T09:00:00.000Z");
const at = (minutes: number) => new Date(H.getTime() + minutes * 60_000);

describe("usageByCustomer", () => {
  test("the rows usageByWindow gives, for the keys billed to one customer", async ({ db }) => {
    // acme's two keys bill to cus_Acme; zed's key bills to cus_Zed until minute 61, then to cus_Acme.
    await sql`insert into users (user_id) values ('acme'), ('zed'), ('other')`.execute(db);
    await sql`
      insert into api_keys (id, user_id, name, key_hash, key_start)
      select id, user_id, id, md5(id), 'gw_abcdef'
        from (values ('key_a1', 'acme'), ('key_a2', 'acme'), ('key_z', 'zed'), ('key_other', 'other')) k(id, user_id)
    `.execute(db);
    await sql`
      insert into authz_counts (key_id, minute, allowed, denied) values
        ('key_a1', ${at(0)}, 10, 2), ('key_a1', ${at(61)}, 5, 0), ('key_a2', ${at(0)}, 3, 0),
        ('key_a2', ${at(200)}, 4, 0), ('key_z', ${at(0)}, 99, 0), ('key_z', ${at(61)}, 7, 1),
        ('key_other', ${at(0)}, 50, 0)
    `.execute(db);
    await sql`
      insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                 billable_units, bytes_in, bytes_out, status_2xx, status_5xx) values
        ('key_a1', ${at(0)}, 'acme', 'cus_Acme', 9, 8, 160, 100, 200, 8, 1),
        ('key_a1', ${at(61)}, 'acme', 'cus_Acme', 5, 5, 5, 10, 20, 5, 0),
        ('key_a2', ${at(0)}, 'acme', 'cus_Acme', 3, 3, 3, 1, 2, 3, 0),
        ('key_z', ${at(0)}, 'zed', 'cus_Zed', 90, 90, 900, 0, 0, 90, 0),
        ('key_z', ${at(61)}, 'zed', 'cus_Acme', 7, 7, 70, 0, 0, 7, 0),
        ('key_other', ${at(0)}, 'other', 'cus_Other', 50, 50, 50, 0, 0, 50, 0)
    `.execute(db);
    await sql`
      insert into stripe_outbox (identifier, stripe_customer_id, event_name, window_start, value, status) values
        ('i1', 'cus_Acme', 'api_requests', ${at(0)}, 11, 'sent'),
        ('i2', 'cus_Acme', 'api_requests', ${at(61)}, 12, 'pending'),
        ('i3', 'cus_Zed', 'api_requests', ${at(0)}, 90, 'sent')
    `.execute(db);
    const range = { from: at(0), to: at(180), granularity: "hour" as const };

    const acme = await usageByCustomer(db, { stripeCustomerId: "cus_Acme", ...range });
    const row = (key: string, minutes: number) =>
      acme.find((r) => r.key_id === key && r.window_start.getTime() === at(minutes).getTime());
    expect(acme.map((r) => [r.key_id, r.window_start.toISOString()])).toEqual([
      ["key_a1", at(0).toISOString()],
      ["key_a2", at(0).toISOString()],
      ["key_z", at(0).toISOString()],
      ["key_a1", at(60).toISOString()],
      ["key_z", at(60).toISOString()],
    ]);
    // The same shape as usageByWindow, column for column.
    const byUser = await usageByWindow(db, { userId: "acme", ...range });
    expect(Object.keys(acme[0] ?? {}).sort()).toEqual(Object.keys(byUser[0] ?? {}).sort());
    expect(acme.filter((r) => r.key_id !== "key_z")).toEqual(byUser);
    // Served usage is what was billed to the customer; authz counts follow the key.
    expect(row("key_z", 0)).toMatchObject({
      allowed: "99",
      requests: "0",
      billable_requests: "0",
      billable_units: "0",
    });
    expect(row("key_z", 60)).toMatchObject({
      allowed: "7",
      denied: "1",
      requests: "7",
      billable_units: "70",
    });
    expect(row("key_a1", 0)).toMatchObject({
      allowed: "10",
      requests: "9",
      billable_requests: "8",
      billable_units: "160",
      bytes_in: "100",
      status_5xx: "1",
    });
    expect(await usageByCustomer(db, { stripeCustomerId: "cus_Nobody", ...range })).toEqual([]);

    expect(await stripeByDayForCustomer(db, { stripeCustomerId: "cus_Acme", ...range })).toEqual(
      (await stripeByDay(db, { userId: "acme", ...range })).filter(
        (s) => s.stripe_customer_id === "cus_Acme",
      ),
    );
    expect(await stripeByDayForCustomer(db, { stripeCustomerId: "cus_Acme", ...range })).toEqual([
      {
        stripe_customer_id: "cus_Acme",
        day: new Date("2026-11-20T00:00:00.000Z"),
        sent: "11",
        pending: "12",
        dead: "0",
      },
    ]);
  });
});
