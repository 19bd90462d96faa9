import { describe, expect, invoiceFor, sendStripeEvent, stripeEvent, test } from "@gateway/testing";
import { bearer, envoyCheckRequest, metadataOf } from "../api-key-service/test/envoy.js";
import { type RunningApi, startApi } from "../api-key-service/test/fixtures.js";
import { startSidecar } from "../billing-sidecar/test/fixtures.js";

const SECRET = "whsec_e2e_0123456789abcdefghijklmnopqrstuv";

/** Checks on every replica until each answers as `done` says; the milliseconds that took. */
async function untilEvery(
  replicas: RunningApi[],
  secret: string,
  done: (response: Awaited<ReturnType<RunningApi["check"]>>) => boolean,
): Promise<number> {
  const started = performance.now();
  const request = envoyCheckRequest({ headers: bearer(secret) });
  const pending = new Set(replicas);
  while (pending.size > 0 && performance.now() - started < 3_000) {
    for (const replica of [...pending]) if (done(await replica.check(request))) pending.delete(replica);
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 5));
  }
  return pending.size === 0 ? performance.now() - started : Number.POSITIVE_INFINITY;
}

/**
 * A customer stops paying: Stripe's signed webhook reaches the sidecar, which suspends the customer's
 * users in Postgres and announces it on Redis; both api-key-service replicas, which had the key
 * cached, refuse it within a second. A later payment lifts it the same way.
 */
describe("Stripe webhooks to every replica's check", () => {
  test("invoice.payment_failed refuses the customer's keys on two replicas within a second; invoice.paid restores them", async ({
    services,
  }) => {
    const replicas = [await startApi(services), await startApi(services)];
    const sidecar = await startSidecar(services, {
      STRIPE_WEBHOOK_SECRET: SECRET,
      REDIS_URL: services.redisUrl,
      REDIS_KEY_PREFIX: services.redisPrefix,
    });
    const [api] = replicas as [RunningApi, RunningApi];
    const url = `http://127.0.0.1:${sidecar.httpPort}/stripe/webhook`;
    const send = (event: ReturnType<typeof stripeEvent>) => sendStripeEvent(url, event, SECRET);
    try {
      await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Acme" } });
      const key = await api.createKey({ user_id: "acme" });
      const bystander = await api.createKey({ user_id: "bob" });
      // Cached on both replicas before the webhook: only the invalidation can change their answer.
      expect(await untilEvery(replicas, key.key, (r) => r.status?.code === 0)).toBeLessThan(3_000);

      const created = Math.floor(Date.now() / 1000);
      const failed = stripeEvent({ type: "invoice.payment_failed", object: invoiceFor("cus_Acme"), created });
      expect((await send(failed)).status).toBe(200);
      const suspendedAfter = await untilEvery(
        replicas,
        key.key,
        (r) => metadataOf(r).denied_reason === "payment_required",
      );
      console.info(`suspension reached both replicas after ${suspendedAfter.toFixed(1)} ms`);
      expect(suspendedAfter).toBeLessThan(1_000);

      const refused = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(refused.denied_response?.status?.code).toBe("PaymentRequired");
      expect(JSON.parse(refused.denied_response?.body ?? "{}").error.code).toBe("payment_required");
      expect(
        (await replicas[1]?.check(envoyCheckRequest({ headers: bearer(bystander.key) })))?.status?.code,
      ).toBe(0);

      // The management API shows it: the user, the audit trail by actor, the verify API.
      const user = await api.request("GET", "/api/users/acme");
      expect(user.body).toMatchObject({
        suspended_at: expect.any(String),
        suspended_reason: "invoice.payment_failed",
      });
      expect((await api.request("GET", `/api/keys/by-id/${key.id}`)).body.status).toBe("active");
      const audit = await api.request("GET", "/api/audit?actor_id=stripe_webhook");
      expect(audit.status).toBe(200);
      expect(audit.body.data).toEqual([
        expect.objectContaining({
          action: "user.suspended",
          user_id: "acme",
          actor: { type: "stripe_webhook", event_id: failed.id },
        }),
      ]);
      const verified = await api.request("POST", "/v1/keys/verify", { body: { key: key.key } });
      expect(verified.body).toMatchObject({ valid: false, code: "DISABLED" });

      const paid = stripeEvent({
        type: "invoice.paid",
        object: invoiceFor("cus_Acme"),
        created: created + 1,
      });
      expect((await send(paid)).status).toBe(200);
      const restoredAfter = await untilEvery(replicas, key.key, (r) => r.status?.code === 0);
      expect(restoredAfter).toBeLessThan(1_000);
      expect((await api.request("GET", "/api/users/acme")).body).toMatchObject({
        suspended_at: null,
        suspended_reason: null,
      });
      const actions = await api.request("GET", "/api/audit?actor_id=stripe_webhook&action=user.unsuspended");
      expect(actions.body.data).toHaveLength(1);
    } finally {
      await sidecar.close();
      for (const replica of replicas) await replica.stop();
    }
  });
});
