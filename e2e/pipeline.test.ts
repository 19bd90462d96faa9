import { describe, expect, startStripeEmulator, test } from "@gateway/testing";
import { bearer, envoyCheckRequest } from "../api-key-service/test/envoy.js";
import { startApi } from "../api-key-service/test/fixtures.js";
import { envoyAlsStream, httpEntry } from "../billing-sidecar/test/envoy-als.js";
import { startSidecar } from "../billing-sidecar/test/fixtures.js";

/**
 * The whole path a paid request takes, with Envoy played by its two gRPC calls: Check allows the
 * key, the access-log entry carries the dynamic metadata that Check returned, the sidecar rolls it up
 * in Postgres, and the customer's usage reaches the Stripe emulator once.
 */
describe("a request through the gateway, billed", () => {
  test("Check → access log with Check's metadata → rollup → one meter event for the right customer", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: "api_requests" }] });
    const api = await startApi(services);
    const sidecar = await startSidecar(services, {
      STRIPE_API_KEY: emulator.apiKey,
      STRIPE_API_BASE: emulator.url,
    });
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Acme" } });
      const key = await api.createKey({ user_id: "acme" });
      const other = await api.createKey({ user_id: "bob" }); // no customer: recorded, not sent

      // Requests that started three minutes ago, so their Stripe window has closed by now.
      const startSeconds = Math.floor(Date.now() / 60_000) * 60 - 180;
      for (const [secret, count] of [
        [key.key, 3],
        [other.key, 2],
      ] as const) {
        for (let i = 0; i < count; i++) {
          const check = await api.check(envoyCheckRequest({ headers: bearer(secret) }));
          expect(check.status?.code).toBe(0);
          // Envoy copies Check's dynamic metadata into the entry under the ext_authz namespace.
          const fields = check.dynamic_metadata?.fields ?? {};
          stream.send([
            httpEntry({
              keyId: fields.api_key_id?.stringValue ?? undefined,
              userId: fields.user_id?.stringValue ?? undefined,
              customer: fields.stripe_customer_id?.stringValue ?? undefined,
              code: 200,
              startSeconds,
            }),
          ]);
        }
      }
      await expect
        .poll(
          async () =>
            (await sidecar.query("select coalesce(sum(requests), 0)::int as n from usage_minutes"))[0].n,
        )
        .toBe(5);
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(emulator.totals()).toEqual([expect.objectContaining({ customer: "cus_Acme", value: 3 })]);
      expect(emulator.events()).toHaveLength(1);

      // Finance sees the same: delivered beside allowed, and what went to Stripe.
      const usage = await api.request("GET", `/api/usage?user_id=acme&granularity=day`);
      expect(usage.body.stripe).toEqual([
        expect.objectContaining({ stripe_customer_id: "cus_Acme", sent: 3 }),
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
