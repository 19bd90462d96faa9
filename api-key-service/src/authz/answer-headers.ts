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

/** The code a denial is refused with: its reason in lower case (`quota_exceeded`). */
export const denialCode = (denial: Denial) => denial.reason.toLowerCase();

/** The JSON body of a denial: `{"error":{"code":"<reason>","message":"…"}}`. */
export const denialBody = (denial: Denial) =>
  JSON.stringify({ error: { code: denialCode(denial), message: denial.message } });

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
 * Writes the rate-limit fields of an answer field by field, as literal ASCII text around whole numbers,
 * so that one definition (writeRateLimitFields) serves both the strings of rateLimitFields and the
 * bytes the gRPC encoder writes straight into an answer (grpc/check-response.ts).
 */
export interface FieldWriter {
  /** Starts the field `name` (lower-case ASCII); what follows is its value. */
  field(name: string): void;
  text(ascii: string): void;
  /** A number as String(n) writes it (the fields' numbers are whole, and ≥ 0 but for a clock skew). */
  number(n: number): void;
}

/**
 * IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) for both windows, plus the common
 * X-RateLimit-* trio for the window closest to running out, and the plan's quota when it has one.
 * Reset values are seconds from now. RateLimit-Policy is not among them: see rateLimitPolicy.
 */
export function writeRateLimitFields(limits: LimitResult, out: FieldWriter): void {
  const { minute, day, quota } = limits;
  const tightest = remaining(day) < remaining(minute) ? day : minute;
  out.field("ratelimit");
  out.text('"minute";r=');
  out.number(remaining(minute));
  out.text(";t=");
  out.number(resetSeconds(minute));
  out.text(', "day";r=');
  out.number(remaining(day));
  out.text(";t=");
  out.number(resetSeconds(day));
  const quotaLeft = quota ? Math.max(0, quota.limit - quota.used) : 0;
  const quotaReset = quota ? Math.max(0, Math.ceil(quota.resetMs / 1000)) : 0;
  if (quota) {
    out.text(', "month";r=');
    out.number(quotaLeft);
    out.text(";t=");
    out.number(quotaReset);
  }
  out.field("x-ratelimit-limit");
  out.number(tightest.limit);
  out.field("x-ratelimit-remaining");
  out.number(remaining(tightest));
  out.field("x-ratelimit-reset");
  out.number(resetSeconds(tightest));
  if (!quota) return;
  out.field("x-quota-limit");
  out.number(quota.limit);
  out.field("x-quota-remaining");
  out.number(quotaLeft);
  out.field("x-quota-reset");
  out.number(quotaReset);
}

/** Collects what writeRateLimitFields writes as [name, value] pairs. */
class FieldStrings implements FieldWriter {
  readonly fields: HeaderField[] = [];
  private name = "";
  private value = "";

  field(name: string): void {
    this.end();
    this.name = name;
  }

  text(ascii: string): void {
    this.value += ascii;
  }

  number(n: number): void {
    this.value += String(n);
  }

  end(): HeaderField[] {
    if (this.name) this.fields.push([this.name, this.value]);
    this.name = "";
    this.value = "";
    return this.fields;
  }
}

/** The rate-limit fields as [name, value] pairs: RateLimit-Policy, then writeRateLimitFields's. */
export function rateLimitFields(limits: LimitResult): HeaderField[] {
  const strings = new FieldStrings();
  strings.fields.push(["ratelimit-policy", rateLimitPolicy(limits)]);
  writeRateLimitFields(limits, strings);
  return strings.end();
}
