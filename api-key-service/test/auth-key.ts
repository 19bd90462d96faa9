import type { AuthKey } from "../src/authz/decision.js";

/** A key record as the check path holds it: an enabled key of user "acme", its fields overridable. */
export function authKey(fields: Partial<AuthKey> = {}): AuthKey {
  return {
    id: "key-1",
    userId: "acme",
    scopes: new Set(["read"]),
    limits: { perMinute: 3, perDay: 100 },
    stripeCustomerId: null,
    enabled: true,
    expiresAt: null,
    revokedAt: null,
    graceEndsAt: null,
    plan: null,
    billingAnchor: null,
    suspendedAt: null,
    ...fields,
  };
}
