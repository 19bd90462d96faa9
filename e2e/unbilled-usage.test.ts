import { describe, expect, startStripeEmulator, test } from "@gateway/testing";
import { UNBILLABLE_NO_CUSTOMER } from "../api-key-service/src/usage/usage.service.js";
import { bearer, envoyCheckRequest } from "../api-key-service/test/envoy.js";
import { startApi } from "../api-key-service/test/fixtures.js";
import { envoyAlsStream, httpEntry } from "../billing-sidecar/test/envoy-als.js";
import { type RunningSidecar, sample, startSidecar } from "../billing-sidecar/test/fixtures.js";

const EVENT = "api_requests";
const DAY = 86_400_000;

/**
 * A user served before they had a Stripe customer: Check carries no customer, so the access log's
 * usage has none and the per-window outbox skips it. It shows as unbilled until the customer is set;
 * then the sidecar backfills it once, through a restart, at its units; what was already past Stripe's
 * 35 days is reported unbillable and never sent.
 */
describe("usage from before a user had a Stripe customer", () => {
  test("unbilled → customer set → billed once at its units, across a sidecar restart; older than 35 days: unbillable", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const api = await startApi(services);
    const env = {
      STRIPE_API_KEY: emulator.apiKey,
      STRIPE_API_BASE: emulator.url,
      STRIPE_METER_EVENT_NAME: EVENT,
    };
    let sidecar: RunningSidecar = await startSidecar(services, env);
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      const key = await api.createKey({ user_id: "trial", rate_limit_per_minute: 1_000 });
      // Requests that started three minutes ago on a route that costs 5 units.
      const startSeconds = Math.floor(Date.now() / 60_000) * 60 - 180;
      for (let i = 0; i < 3; i++) {
        const check = await api.check(
          envoyCheckRequest({ headers: bearer(key.key), contextExtensions: { cost: "5" } }),
        );
        expect(check.status?.code).toBe(0);
        const fields = check.dynamic_metadata?.fields ?? {};
        expect(fields.stripe_customer_id).toBeUndefined();
        stream.send([httpEntry({ extAuthzFields: fields, code: 200, startSeconds })]);
      }
      await expect
        .poll(
          async () =>
            (await sidecar.query("select coalesce(sum(billable_units), 0)::int as n from usage_minutes"))[0]
              .n,
        )
        .toBe(15);
      stream.cancel(); // so that the restarts below need not wait for the stream to end
      // And usage from 40 days ago, also without a customer.
      const old = new Date(Math.floor((Date.now() - 40 * DAY) / 60_000) * 60_000);
      await sidecar.query(
        `insert into usage_minutes (key_id, minute, user_id, requests, billable_requests, billable_units)
         values ($1, $2, 'trial', 4, 4, 4)`,
        [key.id, old],
      );
      await sidecar.sendToStripe();
      expect(emulator.events()).toEqual([]);

      const from = new Date(Date.now() - 45 * DAY).toISOString();
      const report = async () =>
        (await api.request("GET", `/api/usage?user_id=trial&granularity=day&from=${from}`)).body;
      expect((await report()).totals).toMatchObject({
        billable_units: 19,
        unbilled_units: 15,
        backfilled_units: 0,
        unbillable_units: 4,
      });
      expect(sample(await sidecar.metricsText(), "billing_unbilled_units")).toBe(15);

      expect(
        (await api.request("PUT", "/api/users/trial", { body: { stripe_customer_id: "cus_Trial" } })).status,
      ).toBe(200);
      // The sidecar restarts before it gets to it, and again after: still billed once.
      await sidecar.close();
      sidecar = await startSidecar(services, env);
      await sidecar.sendToStripe();
      await sidecar.close();
      sidecar = await startSidecar(services, env);
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      await emulator.settled();

      expect(emulator.events().map((e) => [e.customer, e.value, e.timestamp])).toEqual([
        ["cus_Trial", "15", startSeconds],
      ]);
      expect(emulator.events()[0]?.identifier).toMatch(/^bf:/);
      const after = await report();
      expect(after.totals).toMatchObject({ unbilled_units: 0, backfilled_units: 15, unbillable_units: 4 });
      const oldWindow = after.data.find((w: { unbillable_units: number }) => w.unbillable_units > 0);
      expect(oldWindow).toMatchObject({
        window_start: new Date(Math.floor(old.getTime() / DAY) * DAY).toISOString(),
        unbillable_units: 4,
        unbillable_reason: UNBILLABLE_NO_CUSTOMER,
      });
      expect(after.stripe).toEqual([expect.objectContaining({ stripe_customer_id: "cus_Trial", sent: 15 })]);
      expect(sample(await sidecar.metricsText(), "billing_unbilled_units")).toBe(0);
    } finally {
      stream.close();
      await sidecar.close();
      await api.stop();
      await emulator.close();
    }
  });
});
