import { loadEnvoyServices } from "@gateway/proto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { type DenialReason, HTTP_STATUS } from "../src/authz/decision.js";
import type { LimitResult } from "../src/authz/sliding-window.js";
import { AllowedResponseEncoder, toCheckResponse } from "../src/grpc/check-response.js";
import { authKey } from "./auth-key.js";

const check = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check;

const keyArb = fc.record({
  id: fc.uuid(),
  userId: fc.string({ minLength: 1, maxLength: 80, unit: "grapheme" }),
  stripeCustomerId: fc.option(fc.stringMatching(/^cus_[A-Za-z0-9]{1,24}$/), { nil: null }),
});
const windowArb = fc
  .record({ limit: fc.integer({ min: 1, max: 1_000_000_000 }), resetMs: fc.nat({ max: 86_400_000 }) })
  .chain((w) =>
    fc.record({ limit: fc.constant(w.limit), resetMs: fc.constant(w.resetMs), used: fc.nat(w.limit) }),
  );
const quotaArb = fc.option(
  fc
    .record({
      limit: fc.integer({ min: 1, max: 1e15 }),
      periodStart: fc.integer({ min: 1.7e12, max: 1.8e12 }),
      length: fc.integer({ min: 28 * 86_400_000, max: 31 * 86_400_000 }),
      resetMs: fc.nat({ max: 31 * 86_400_000 }),
    })
    .chain((q) =>
      fc.record({
        limit: fc.constant(q.limit),
        used: fc.integer({ min: 0, max: q.limit * 2 }),
        periodStart: fc.constant(q.periodStart),
        periodEnd: fc.constant(q.periodStart + q.length),
        resetMs: fc.constant(q.resetMs),
        exceeded: fc.constant(false),
      }),
    ),
  { nil: undefined },
);
const limitsArb = fc.record({ minute: windowArb, day: windowArb, quota: quotaArb }).map(
  ({ minute, day, quota }): LimitResult => ({
    allowed: true,
    minute,
    day,
    retryAfterMs: 0,
    source: "redis",
    ...(quota ? { quota } : {}),
  }),
);
const unitsArb = fc.integer({ min: 1, max: 1_000_000 });
const headersArb = fc.array(fc.stringMatching(/^[a-z][a-z0-9-]{0,30}$/), { minLength: 1, maxLength: 4 });

describe("the allowed answer encoded from parts", () => {
  test("is byte for byte the answer the service definition's serializer makes", () => {
    fc.assert(
      fc.property(keyArb, limitsArb, headersArb, unitsArb, (fields, limits, credentialHeaders, units) => {
        const settings = { credentialHeaders };
        const encoder = new AllowedResponseEncoder(settings);
        const key = authKey(fields);
        const expected = check.responseSerialize(
          toCheckResponse({ allowed: true, key, limits, units }, settings),
        );
        // Twice: the second answer comes from the parts kept for the key and cost.
        expect(encoder.encode(key, limits, units)).toEqual(expected);
        expect(encoder.encode(key, limits, units)).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });

  test("stays the serializer's answer when one key record's checks carry different limits and periods", () => {
    // The RateLimit-Policy entry is kept beside the key record: a quota appearing, its next billing
    // period or other limits must each be answered with their own policy, never the kept one.
    fc.assert(
      fc.property(keyArb, fc.array(limitsArb, { minLength: 2, maxLength: 6 }), (fields, sequence) => {
        const settings = { credentialHeaders: ["authorization"] };
        const encoder = new AllowedResponseEncoder(settings);
        const key = authKey(fields);
        for (const limits of [...sequence, ...sequence]) {
          const expected = check.responseSerialize(
            toCheckResponse({ allowed: true, key, limits, units: 3 }, settings),
          );
          expect(encoder.encode(key, limits, 3)).toEqual(expected);
        }
      }),
      { numRuns: 200 },
    );
  });

  test("decodes to the key's identity and this check's counts, and follows a replaced key record", () => {
    const settings = { credentialHeaders: ["authorization", "x-api-key"] };
    const encoder = new AllowedResponseEncoder(settings);
    const limits: LimitResult = {
      allowed: true,
      minute: { limit: 100, used: 7, resetMs: 30_500 },
      day: { limit: 10_000, used: 700, resetMs: 3_600_000 },
      retryAfterMs: 0,
      source: "redis",
    };
    const key = authKey({ id: "k1", userId: "u1", stripeCustomerId: null });
    const first = check.responseDeserialize(encoder.encode(key, limits, 1));
    expect(first.status?.code ?? 0).toBe(0);
    expect(first.ok_response?.headers?.map((h) => [h.header?.key, h.header?.value])).toEqual([
      ["x-api-key-id", "k1"],
      ["x-user-id", "u1"],
    ]);
    expect(first.ok_response?.headers_to_remove).toEqual(["authorization", "x-api-key"]);
    const added = Object.fromEntries(
      (first.ok_response?.response_headers_to_add ?? []).map((h) => [h.header?.key, h.header?.value]),
    );
    expect(added["x-ratelimit-remaining"]).toBe("93");
    expect(added.ratelimit).toBe('"minute";r=93;t=31, "day";r=9300;t=3600');
    expect(Object.keys(first.dynamic_metadata?.fields ?? {})).toEqual(["api_key_id", "user_id", "units"]);

    // A key that gains a customer is a new record: its answer carries the customer at once.
    const billed = authKey({ id: "k1", userId: "u1", stripeCustomerId: "cus_1" });
    const second = check.responseDeserialize(
      encoder.encode(billed, { ...limits, minute: { ...limits.minute, used: 8 } }, 1),
    );
    expect(second.dynamic_metadata?.fields?.stripe_customer_id?.stringValue).toBe("cus_1");
    const remaining = second.ok_response?.response_headers_to_add?.find(
      (h) => h.header?.key === "x-ratelimit-remaining",
    );
    expect(remaining?.header?.value).toBe("92");
  });
});

describe("the challenge of a 401", () => {
  const challenge = (reason: DenialReason) =>
    toCheckResponse({ allowed: false, reason, message: "m" }, { credentialHeaders: [] })
      .denied_response?.headers?.filter((h) => h.header?.key === "www-authenticate")
      .map((h) => h.header?.value);

  test("names invalid_token, except when no credential was sent (RFC 6750 §3.1)", () => {
    const reasons = Object.keys(HTTP_STATUS) as DenialReason[];
    for (const reason of reasons) {
      const expected =
        HTTP_STATUS[reason] !== 401
          ? []
          : reason === "MISSING"
            ? ['Bearer realm="api"']
            : ['Bearer realm="api", error="invalid_token"'];
      expect(challenge(reason), reason).toEqual(expected);
    }
  });
});

describe("a suspended account's key", () => {
  test("is answered 402 PaymentRequired with payment_required, a value Envoy's HttpStatus enum has", () => {
    const key = authKey({ id: "k1", userId: "u1", stripeCustomerId: "cus_1" });
    const response = toCheckResponse(
      { allowed: false, reason: "PAYMENT_REQUIRED", message: "m", key },
      { credentialHeaders: [] },
    );
    // Through the service definition's serializer and back: an unknown enum name would not survive.
    const decoded = check.responseDeserialize(check.responseSerialize(response));
    expect(decoded.denied_response?.status?.code).toBe("PaymentRequired");
    expect(decoded.status?.code).toBe(9);
    expect(JSON.parse(decoded.denied_response?.body ?? "{}").error.code).toBe("payment_required");
    expect(decoded.dynamic_metadata?.fields?.denied_reason?.stringValue).toBe("payment_required");
    expect(decoded.dynamic_metadata?.fields?.user_id?.stringValue).toBe("u1");
  });
});
