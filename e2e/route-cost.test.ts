import { describe, expect, startStripeEmulator, test } from "@gateway/testing";
import { bearer, envoyCheckRequest } from "../api-key-service/test/envoy.js";
import { startApi } from "../api-key-service/test/fixtures.js";
import { envoyAlsStream, httpEntry } from "../billing-sidecar/test/envoy-als.js";
import { sample, startSidecar } from "../billing-sidecar/test/fixtures.js";

const EVENT = "api_requests";

/**
 * A route that costs more than one unit, from Check to Stripe. The route's cost reaches ext_authz in
 * `context_extensions.cost`; an allowed Check answers it as `units` in its dynamic metadata; Envoy
 * copies that metadata, as it is, into the access-log entry; the sidecar bills the units.
 */
describe("a request on a route that costs 20 units, billed", () => {
  test("Check's units → access log → usage billable_units → the meter event's value, once", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const api = await startApi(services);
    const sidecar = await startSidecar(services, {
      STRIPE_API_KEY: emulator.apiKey,
      STRIPE_API_BASE: emulator.url,
      STRIPE_METER_EVENT_NAME: EVENT,
    });
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Acme" } });
      await api.request("PUT", "/api/users/bob", { body: { stripe_customer_id: "cus_Bob" } });
      // Limits well above what the test spends, whether or not a cost counts against them.
      const limits = { rate_limit_per_minute: 10_000, rate_limit_per_day: 100_000 };
      const expensive = await api.createKey({ user_id: "acme", ...limits });
      const plain = await api.createKey({ user_id: "bob", ...limits });

      // Requests that started three minutes ago, so their Stripe window has closed by now.
      const startSeconds = Math.floor(Date.now() / 60_000) * 60 - 180;
      const metadataSeen: Record<string, string | undefined>[] = [];
      for (const [secret, contextExtensions, count] of [
        [expensive.key, { cost: "20" }, 3],
        [plain.key, {}, 2], // a route without a cost: one unit a request
      ] as const) {
        for (let i = 0; i < count; i++) {
          const check = await api.check(envoyCheckRequest({ headers: bearer(secret), contextExtensions }));
          expect(check.status?.code).toBe(0);
          const fields = check.dynamic_metadata?.fields ?? {};
          metadataSeen.push({
            api_key_id: fields.api_key_id?.stringValue ?? undefined,
            units: fields.units?.stringValue ?? undefined,
          });
          // Envoy puts the allowed Check's dynamic metadata, field for field, under the ext_authz namespace.
          stream.send([httpEntry({ extAuthzFields: fields, code: 200, startSeconds })]);
        }
      }
      // The contract with ext_authz: `units` on every allowed Check.
      expect(metadataSeen).toEqual([
        ...Array(3).fill({ api_key_id: expensive.id, units: "20" }),
        ...Array(2).fill({ api_key_id: plain.id, units: "1" }),
      ]);

      const usage = () =>
        sidecar.query(
          `select key_id, requests::int, billable_requests::int, billable_units::int
             from usage_minutes order by billable_units desc`,
        );
      await expect
        .poll(async () => (await usage()).reduce((n, r) => n + r.requests, 0), { timeout: 5_000 })
        .toBe(5);
      expect(await usage()).toEqual([
        { key_id: expensive.id, requests: 3, billable_requests: 3, billable_units: 60 },
        { key_id: plain.id, requests: 2, billable_requests: 2, billable_units: 2 },
      ]);
      expect(sample(await sidecar.metricsText(), "sidecar_invalid_units_total")).toBe(0);

      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      await emulator.settled();
      expect(
        emulator
          .events()
          .map((e) => [e.customer, e.value])
          .sort(),
      ).toEqual([
        ["cus_Acme", "60"],
        ["cus_Bob", "2"],
      ]);

      // Finance sees requests and units side by side, and the units that went to Stripe.
      const report = await api.request("GET", "/api/usage?user_id=acme&granularity=day");
      expect(report.body.totals).toMatchObject({ requests: 3, billable_requests: 3, billable_units: 60 });
      expect(report.body.stripe).toEqual([
        expect.objectContaining({ stripe_customer_id: "cus_Acme", sent: 60 }),
      ]);
    } finally {
      stream.cancel();
      stream.close();
      await sidecar.close();
      await api.stop();
      await emulator.close();
    }
  });
});
