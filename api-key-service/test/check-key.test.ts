import { createLogger } from "@gateway/common";
import { test as withServices } from "@gateway/testing";
import { Registry } from "prom-client";
import { describe, expect } from "vitest";
import { KeyChecker } from "../src/authz/check-key.js";
import type { AuthKey } from "../src/authz/decision.js";
import type { KeyLookup } from "../src/authz/key-lookup.js";
import { AuthzMetrics } from "../src/authz/metrics.js";
import { RedisRateLimiter } from "../src/authz/redis-limiter.js";
import type { UsageRecorder } from "../src/authz/usage-recorder.js";
import { hashKey, KeyFormat } from "../src/keys/key-format.js";
import { authKey } from "./auth-key.js";

const format = new KeyFormat("gw");
const NOW = Date.UTC(2026, 10, 21, 12, 0, 0, 250);

interface Harness {
  secret: string;
  /** Replaces the record the secret resolves to. */
  setKey: (key: AuthKey) => void;
  /** Every usage.record() call, as [keyId, allowed]. */
  recorded: [string, boolean][];
  checker: KeyChecker;
}

/** A KeyChecker on the real Redis limiter; the key store and the usage recorder are stand-ins. */
const test = withServices.extend<{ harness: Harness }>({
  harness: async ({ services }, use) => {
    const limiter = new RedisRateLimiter({
      url: services.redisUrl,
      keyPrefix: services.redisPrefix,
      timeoutMs: 1_000,
      onError: () => {},
      quotaBaseline: async () => 0,
    });
    await limiter.start(5_000);
    const secret = format.generate();
    let key = authKey();
    const recorded: [string, boolean][] = [];
    const lookup = { find: async (hash: string) => (hash === hashKey(secret) ? key : null) };
    const usage = { record: (id: string, allowed: boolean) => recorded.push([id, allowed]) };
    const checker = new KeyChecker({
      format,
      credentialHeaders: { authorization: "authorization", apiKey: "x-api-key" },
      lookup: lookup as unknown as KeyLookup,
      limiter,
      fallback: null,
      usage: usage as unknown as UsageRecorder,
      metrics: new AuthzMetrics(new Registry()),
      logger: createLogger({ service: "test", level: "silent" }),
      now: () => NOW,
    });
    await use({ secret, setKey: (k) => (key = k), recorded, checker });
    limiter.stop();
  },
});

describe("KeyChecker.checkSecret", () => {
  test("is check() without the header: same decisions, same counting", async ({ harness }) => {
    const { checker, secret, recorded } = harness;
    const viaHeader = await checker.check({
      header: (name) => (name === "authorization" ? `Bearer ${secret}` : undefined),
      requiredScopes: ["read"],
    });
    const direct = await checker.checkSecret(secret, { requiredScopes: ["read"] });
    expect(viaHeader).toMatchObject({ allowed: true, limits: { minute: { used: 1 } } });
    expect(direct).toMatchObject({ allowed: true, limits: { minute: { used: 2 } } });
    expect(recorded).toEqual([
      ["key-1", true],
      ["key-1", true],
    ]);
    expect(await checker.checkSecret("gw_nope", { requiredScopes: [] })).toMatchObject({
      allowed: false,
      reason: "MALFORMED",
    });
  });

  test("a cost counts that many units against the key's limits", async ({ harness }) => {
    const { checker, secret } = harness;
    expect(await checker.checkSecret(secret, { requiredScopes: [], cost: 2 })).toMatchObject({
      allowed: true,
      limits: { minute: { used: 2 }, day: { used: 2 } },
    });
    expect(await checker.checkSecret(secret, { requiredScopes: [], cost: 2 })).toMatchObject({
      allowed: false,
      reason: "RATE_LIMITED",
      limits: { minute: { used: 2 } },
    });
    // A route with an unusable cost is the gateway's fault: refused (500), never counted as 1.
    for (const cost of [0, -1, 1.5, Number.NaN, 1_000_001]) {
      expect(await checker.checkSecret(secret, { requiredScopes: [], cost })).toMatchObject({
        allowed: false,
        reason: "MISCONFIGURED",
      });
    }
  });

  test("consume: false decides without counting or recording usage", async ({ harness }) => {
    const { checker, secret, recorded, setKey } = harness;
    const read = (options: { requiredScopes?: string[]; cost?: number } = {}) =>
      checker.checkSecret(secret, { requiredScopes: [], ...options, consume: false });

    expect(await read()).toMatchObject({ allowed: true, limits: { minute: { used: 0 } } });
    expect(await read({ cost: 4 })).toMatchObject({ allowed: false, reason: "RATE_LIMITED" });
    expect(await read({ requiredScopes: ["admin"] })).toMatchObject({ reason: "MISSING_SCOPE" });
    setKey(authKey({ revokedAt: NOW - 1 }));
    expect(await read()).toMatchObject({ reason: "REVOKED" });
    expect(recorded).toEqual([]);

    // Nothing was counted: the key still has its three requests this minute.
    setKey(authKey());
    for (let i = 1; i <= 3; i++) {
      expect(await checker.checkSecret(secret, { requiredScopes: [] })).toMatchObject({
        allowed: true,
        limits: { minute: { used: i } },
      });
    }
    expect(await read()).toMatchObject({ allowed: false, reason: "RATE_LIMITED" });
    expect(recorded).toHaveLength(3);
  });
});

describe("a user suspended for non-payment", () => {
  test("is refused payment_required after revoked, expired and disabled, counted as denied, consuming nothing", async ({
    harness,
  }) => {
    const { checker, secret, recorded, setKey } = harness;
    const check = () => checker.checkSecret(secret, { requiredScopes: ["read"] });
    setKey(authKey({ suspendedAt: NOW - 1 }));
    expect(await check()).toMatchObject({ allowed: false, reason: "PAYMENT_REQUIRED", key: { id: "key-1" } });
    setKey(authKey({ suspendedAt: NOW - 1, enabled: false }));
    expect(await check()).toMatchObject({ reason: "DISABLED" });
    setKey(authKey({ suspendedAt: NOW - 1, revokedAt: NOW - 1 }));
    expect(await check()).toMatchObject({ reason: "REVOKED" });
    setKey(authKey({ suspendedAt: NOW - 1, expiresAt: NOW - 1 }));
    expect(await check()).toMatchObject({ reason: "EXPIRED" });
    expect(recorded).toEqual(Array.from({ length: 4 }, () => ["key-1", false]));

    // Lifted: the minute's three requests are all still there.
    setKey(authKey());
    for (let i = 1; i <= 3; i++) expect(await check()).toMatchObject({ allowed: true });
  });
});
