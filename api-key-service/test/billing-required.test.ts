import { bearer, envoyCheckRequest, metadataOf } from "./envoy.js";
import { type Api, describe, expect, startApi, test } from "./fixtures.js";

const check = (api: Api, secret: string) => api.check(envoyCheckRequest({ headers: bearer(secret) }));
const verify = (api: Api, key: string) => api.request("POST", "/v1/keys/verify", { body: { key } });

describe("REQUIRE_BILLING_CUSTOMER", () => {
  test("on: a key whose account has no Stripe customer is refused 403 billing_required, over gRPC and verify", async ({
    services,
  }) => {
    const api = await startApi(services, { REQUIRE_BILLING_CUSTOMER: "true" });
    try {
      const trial = await api.createKey({ user_id: "trial" });
      const refused = await check(api, trial.key);
      expect(refused.status?.code).toBe(7); // PERMISSION_DENIED
      expect(refused.denied_response?.status?.code).toBe("Forbidden");
      expect(JSON.parse(refused.denied_response?.body ?? "{}")).toEqual({
        error: { code: "billing_required", message: expect.stringContaining("no Stripe customer") },
      });
      expect(metadataOf(refused)).toMatchObject({ denied_reason: "billing_required", user_id: "trial" });
      // The verify API's codes are fixed (Unkey's): the closest is DISABLED.
      expect((await verify(api, trial.key)).body).toMatchObject({ valid: false, code: "DISABLED" });

      // Decided after the key's own state: a revoked key without a customer is answered revoked.
      const revoked = await api.createKey({ user_id: "trial" });
      await api.request("DELETE", `/api/keys/${revoked.id}`);
      const answer = await check(api, revoked.key);
      expect(JSON.parse(answer.denied_response?.body ?? "{}").error.code).toBe("revoked");

      // A key's own customer is enough, whatever its user has.
      const own = await api.createKey({ user_id: "trial", stripe_customer_id: "cus_Own" });
      expect((await check(api, own.key)).status?.code).toBe(0);
      expect((await verify(api, own.key)).body).toMatchObject({ valid: true, code: "VALID" });

      // So is the user's, and setting it lets the user's keys in at once (the cached keys are evicted).
      const res = await api.request("PUT", "/api/users/trial", { body: { stripe_customer_id: "cus_Trial" } });
      expect(res.status).toBe(200);
      await expect.poll(async () => (await check(api, trial.key)).status?.code).toBe(0);

      // Refusals are counted as denied, like any other: the check and the verification.
      const denied = async () =>
        (
          await api.query("select coalesce(sum(denied), 0)::int as n from authz_counts where key_id = $1", [
            trial.id,
          ])
        )[0].n;
      await expect.poll(denied, { timeout: 10_000 }).toBe(2);
    } finally {
      await api.stop();
    }
  });

  test("off (the default): a key without a customer is allowed, with no customer in its metadata", async ({
    api,
  }) => {
    const trial = await api.createKey({ user_id: "trial" });
    const allowed = await check(api, trial.key);
    expect(allowed.status?.code).toBe(0);
    expect(metadataOf(allowed).stripe_customer_id).toBeUndefined();
    expect((await verify(api, trial.key)).body).toMatchObject({ valid: true, code: "VALID" });
  });
});
