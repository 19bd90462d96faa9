import { type AuthKey, type Decision, HTTP_STATUS } from "./decision.js";
import type { LimitResult, WindowState } from "./sliding-window.js";
import { DAY, MINUTE } from "./sliding-window.js";

/**
 * The headers a decision is answered with, as lower-case [name, value] pairs: one definition for both
 * transports, Envoy's gRPC Check (grpc/check-response.ts) and the forward-auth HTTP endpoint
 * (forward-auth/answer.ts).
 */
export type HeaderField = [name: string, value: string];

export type Denial = Exclude<Decision, { allowed: true }>;

/** The upstream request learns who called: the gateway overwrites anything the client sent. */
export const identityFields = (key: AuthKey): HeaderField[] => [
  ["x-api-key-id", key.id],
  ["x-user-id", key.userId],
];

const JSON_CONTENT_TYPE: HeaderField = ["content-type", "application/json"];
const WWW_AUTHENTICATE: HeaderField = ["www-authenticate", 'Bearer realm="api", error="invalid_token"'];
// RFC 6750 §3.1: a request that carried no credential at all gets the challenge without an error code.
const WWW_AUTHENTICATE_NO_CREDENTIAL: HeaderField = ["www-authenticate", 'Bearer realm="api"'];

/** The answer's status: 401, 402, 403, 429, 500 (a misconfigured route) or 503. */
export const denialStatus = (denial: Denial) => HTTP_STATUS[denial.reason];

/** The JSON body of a denial: `{"error":{"code":"<reason>","message":"…"}}`. */
export const denialBody = (denial: Denial) =>
  JSON.stringify({ error: { code: denial.reason.toLowerCase(), message: denial.message } });

/** A denial's headers: content type, the RFC 6750 challenge on 401, Retry-After, and the limits when counted. */
export function denialFields(denial: Denial): HeaderField[] {
  const fields = [JSON_CONTENT_TYPE];
  if (denialStatus(denial) === 401)
    fields.push(denial.reason === "MISSING" ? WWW_AUTHENTICATE_NO_CREDENTIAL : WWW_AUTHENTICATE);
  if (denial.retryAfterSeconds !== undefined) fields.push(["retry-after", String(denial.retryAfterSeconds)]);
  if (denial.limits) fields.push(...rateLimitFields(denial.limits));
  return fields;
}

const remaining = (w: WindowState) => Math.max(0, w.limit - w.used);
const resetSeconds = (w: WindowState) => Math.ceil(w.resetMs / 1000);

/**
 * RateLimit-Policy's value: the limits of both windows, and the plan's quota when it has one. The same
 * for every check of one key record in one billing period, so an encoder may keep it.
 */
export function rateLimitPolicy(limits: LimitResult): string {
  const policy = `"minute";q=${limits.minute.limit};w=${MINUTE.spanSeconds}, "day";q=${limits.day.limit};w=${DAY.spanSeconds}`;
  const quota = limits.quota;
  if (!quota) return policy;
  return `${policy}, "month";q=${quota.limit};w=${Math.round((quota.periodEnd - quota.periodStart) / 1000)}`;
}

/**
 * IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) for both windows, plus the common
 * X-RateLimit-* trio for the window closest to running out, and the plan's quota when it has one.
 * Reset values are seconds from now. `policy` is rateLimitPolicy(limits), when the caller kept it.
 */
export function rateLimitFields(limits: LimitResult, policy = rateLimitPolicy(limits)): HeaderField[] {
  const tightest = remaining(limits.day) < remaining(limits.minute) ? limits.day : limits.minute;
  const windows = `"minute";r=${remaining(limits.minute)};t=${resetSeconds(limits.minute)}, "day";r=${remaining(limits.day)};t=${resetSeconds(limits.day)}`;
  const limit: HeaderField = ["x-ratelimit-limit", String(tightest.limit)];
  const left: HeaderField = ["x-ratelimit-remaining", String(remaining(tightest))];
  const reset: HeaderField = ["x-ratelimit-reset", String(resetSeconds(tightest))];
  const quota = limits.quota;
  if (!quota) return [["ratelimit-policy", policy], ["ratelimit", windows], limit, left, reset];
  const quotaLeft = Math.max(0, quota.limit - quota.used);
  const quotaReset = Math.max(0, Math.ceil(quota.resetMs / 1000));
  // One array literal per shape: pushing the quota's three onto the five would grow the array.
  return [
    ["ratelimit-policy", policy],
    ["ratelimit", `${windows}, "month";r=${quotaLeft};t=${quotaReset}`],
    limit,
    left,
    reset,
    ["x-quota-limit", String(quota.limit)],
    ["x-quota-remaining", String(quotaLeft)],
    ["x-quota-reset", String(quotaReset)],
  ];
}
