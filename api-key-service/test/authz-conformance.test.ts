import { bearer, envoyCheckRequest, headerMap, metadataOf } from "./envoy.js";
import { describe, expect, GRPC_SERVERS, test } from "./fixtures.js";

const JSON_TYPE = { header: { key: "content-type", value: "application/json" }, append: { value: false } };
const CHALLENGE = {
  header: { key: "www-authenticate", value: 'Bearer realm="api", error="invalid_token"' },
  append: { value: false },
};
/** RFC 6750 §3.1: no credential at all, so no error code. */
const BARE_CHALLENGE = {
  header: { key: "www-authenticate", value: 'Bearer realm="api"' },
  append: { value: false },
};

function denial(http: string, rpc: number, code: string, message: string, extraHeaders: object[] = []) {
  return {
    status: { code: rpc, message },
    denied_response: {
      status: { code: http },
      headers: [JSON_TYPE, ...extraHeaders],
      body: JSON.stringify({ error: { code, message } }),
    },
  };
}

describe.each(GRPC_SERVERS)("Check over %s", (grpcServer) => {
  test.override({ grpcServer });

  describe("Check: allowed", () => {
    test("answers the whole OK response Envoy needs", async ({ api }) => {
      const key = await api.createKey({
        user_id: "acme",
        rate_limit_per_minute: 10,
        rate_limit_per_day: 1000,
        stripe_customer_id: "cus_Acme1",
      });
      const response = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(response).toMatchObject({
        status: { code: 0 },
        http_response: "ok_response",
        ok_response: {
          headers: [
            { header: { key: "x-api-key-id", value: key.id }, append: { value: false } },
            { header: { key: "x-user-id", value: "acme" }, append: { value: false } },
          ],
          headers_to_remove: ["authorization", "x-api-key"],
        },
      });
      expect(response.denied_response).toBeUndefined();
      expect(headerMap(response.ok_response?.response_headers_to_add)).toEqual({
        "ratelimit-policy": '"minute";q=10;w=60, "day";q=1000;w=86400',
        ratelimit: expect.stringMatching(/^"minute";r=9;t=(59|60|61), "day";r=999;t=\d+$/),
        "x-ratelimit-limit": "10",
        "x-ratelimit-remaining": "9",
        "x-ratelimit-reset": expect.stringMatching(/^(59|60|61)$/),
      });
      for (const h of response.ok_response?.response_headers_to_add ?? [])
        expect(h.append).toEqual({ value: false });
      expect(metadataOf(response)).toEqual({
        api_key_id: key.id,
        user_id: "acme",
        units: "1",
        stripe_customer_id: "cus_Acme1",
      });
    });

    test("the key may come in x-api-key, and in Envoy's raw header_map", async ({ api }) => {
      const key = await api.createKey();
      const viaHeader = await api.check(envoyCheckRequest({ headers: { "x-api-key": key.key } }));
      expect(viaHeader.status?.code).toBe(0);
      const raw = await api.check(envoyCheckRequest({ headers: bearer(key.key), rawHeaders: true }));
      expect(raw.status?.code).toBe(0);
      expect(metadataOf(raw).api_key_id).toBe(key.id);
    });

    test("the user's Stripe customer is used when the key has none; defaults fill null limits", async ({
      api,
    }) => {
      await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_User1" } });
      const key = await api.createKey({ user_id: "acme" });
      const response = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(metadataOf(response).stripe_customer_id).toBe("cus_User1");
      expect(headerMap(response.ok_response?.response_headers_to_add)["ratelimit-policy"]).toBe(
        '"minute";q=100;w=60, "day";q=10000;w=86400',
      );
    });

    test("the route's required scopes are honoured", async ({ api }) => {
      const key = await api.createKey({ scopes: ["read", "write"] });
      const ok = await api.check(
        envoyCheckRequest({ headers: bearer(key.key), contextExtensions: { required_scopes: "read,write" } }),
      );
      expect(ok.status?.code).toBe(0);
    });

    test("during the grace period both the old and the new secret pass", async ({ api }) => {
      const key = await api.createKey();
      const rotated = await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, {
        body: { grace_period: "1h" },
      });
      for (const secret of [key.key, rotated.body.key]) {
        const response = await api.check(envoyCheckRequest({ headers: bearer(secret) }));
        expect(response.status?.code).toBe(0);
        expect(metadataOf(response).api_key_id).toBe(key.id);
      }
    });
  });

  describe("Check: denied", () => {
    test("no key: 401 with a challenge", async ({ api }) => {
      const response = await api.check(envoyCheckRequest());
      expect(response).toMatchObject(
        denial("Unauthorized", 16, "missing", "send an API key as Authorization: Bearer <key>", [
          BARE_CHALLENGE,
        ]),
      );
      expect(response.ok_response).toBeUndefined();
      expect(metadataOf(response)).toEqual({ denied_reason: "missing" });
    });

    test("a malformed key, a wrong prefix, a bad checksum, an empty Bearer: 401 malformed", async ({
      api,
    }) => {
      const key = await api.createKey();
      const checksumBroken = `${key.key.slice(0, -1)}${key.key.endsWith("A") ? "B" : "A"}`;
      for (const headers of [
        bearer("not-a-key"),
        bearer(`xx_${key.key.slice(3)}`),
        bearer(checksumBroken),
        { authorization: "Bearer" },
        { authorization: "Bearer    " },
        { "x-api-key": "" },
        { authorization: `Bearer ${key.key}, Bearer ${key.key}` },
      ]) {
        const response = await api.check(envoyCheckRequest({ headers }));
        expect(response, JSON.stringify(headers)).toMatchObject(
          denial("Unauthorized", 16, "malformed", "the API key is malformed", [CHALLENGE]),
        );
      }
    });

    test("an unknown key: 401", async ({ api }) => {
      const stranger = await api.createKey();
      await api.query("delete from api_keys where id = $1", [stranger.id]);
      const response = await api.check(envoyCheckRequest({ headers: bearer(stranger.key) }));
      expect(response).toMatchObject(
        denial("Unauthorized", 16, "unknown", "the API key is not valid", [CHALLENGE]),
      );
    });

    test("a revoked key: 401, with the key id in the metadata", async ({ api }) => {
      const key = await api.createKey({ user_id: "acme" });
      await api.request("DELETE", `/api/keys/${key.id}`);
      const response = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(response).toMatchObject(
        denial("Unauthorized", 16, "revoked", "the API key has been revoked", [CHALLENGE]),
      );
      expect(metadataOf(response)).toEqual({ denied_reason: "revoked", api_key_id: key.id, user_id: "acme" });
    });

    test("an expired key: 401", async ({ api }) => {
      const key = await api.createKey();
      await api.query("update api_keys set expires_at = now() - interval '1 second' where id = $1", [key.id]);
      const response = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(response).toMatchObject(
        denial("Unauthorized", 16, "expired", "the API key has expired", [CHALLENGE]),
      );
    });

    test("the old secret once its grace period is over: 401 rotated", async ({ api }) => {
      const key = await api.createKey();
      await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, { body: { grace_period: "1h" } });
      await api.query(
        "update api_keys set previous_key_expires_at = now() - interval '1 second' where id = $1",
        [key.id],
      );
      const response = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(response).toMatchObject(
        denial("Unauthorized", 16, "rotated", "the API key was rotated; use its replacement", [CHALLENGE]),
      );
    });

    test("the old secret after a rotation without grace: 401 unknown at once", async ({ api }) => {
      const key = await api.createKey();
      await api.check(envoyCheckRequest({ headers: bearer(key.key) })); // now cached
      await api.request("POST", `/api/keys/by-id/${key.id}/rotate`, { body: { grace_period: "0s" } });
      const response = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(metadataOf(response).denied_reason).toBe("unknown");
    });

    test("a disabled key: 403", async ({ api }) => {
      const key = await api.createKey();
      await api.request("PATCH", `/api/keys/by-id/${key.id}`, { body: { enabled: false } });
      const response = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
      expect(response).toMatchObject(denial("Forbidden", 7, "disabled", "the API key is disabled"));
      expect(headerMap(response.denied_response?.headers)["www-authenticate"]).toBeUndefined();
    });

    test("a missing scope: 403 naming it", async ({ api }) => {
      const key = await api.createKey({ scopes: ["read"] });
      const response = await api.check(
        envoyCheckRequest({ headers: bearer(key.key), contextExtensions: { required_scopes: "read admin" } }),
      );
      expect(response).toMatchObject(
        denial("Forbidden", 7, "missing_scope", "the API key lacks the scope admin"),
      );
      expect(metadataOf(response).api_key_id).toBe(key.id);
    });

    test("over the limit: 429 with Retry-After and the rate-limit headers", async ({ api }) => {
      const key = await api.createKey({ rate_limit_per_minute: 2 });
      const request = envoyCheckRequest({ headers: bearer(key.key) });
      expect((await api.check(request)).status?.code).toBe(0);
      expect((await api.check(request)).status?.code).toBe(0);
      const response = await api.check(request);
      expect(response).toMatchObject({
        status: { code: 8, message: "the API key's rate limit is exceeded" },
        denied_response: {
          status: { code: "TooManyRequests" },
          body: JSON.stringify({
            error: { code: "rate_limited", message: "the API key's rate limit is exceeded" },
          }),
        },
      });
      const headers = headerMap(response.denied_response?.headers);
      expect(headers).toMatchObject({
        "content-type": "application/json",
        "retry-after": expect.stringMatching(/^(59|60|61)$/),
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "0",
        "ratelimit-policy": '"minute";q=2;w=60, "day";q=10000;w=86400',
      });
      expect(metadataOf(response)).toMatchObject({ denied_reason: "rate_limited", api_key_id: key.id });
    });
  });
});
