import { authMessageType, type CheckResponse, type HeaderValueOption } from "@gateway/proto";
import { type AuthKey, type Decision, HTTP_STATUS } from "../authz/decision.js";
import type { LimitResult, WindowState } from "../authz/sliding-window.js";
import { DAY, MINUTE } from "../authz/sliding-window.js";

// google.rpc.Code: only "non-zero" matters to Envoy; these make logs and gRPC clients readable.
const RPC_CODE = { 401: 16, 403: 7, 429: 8, 503: 14 } as const;
const HTTP_STATUS_NAME = {
  401: "Unauthorized",
  403: "Forbidden",
  429: "TooManyRequests",
  503: "ServiceUnavailable",
} as const;

/** `append: false` is an overwrite on every Envoy version; leaving it unset is not (see the protocol notes). */
const header = (key: string, value: string): HeaderValueOption => ({
  header: { key, value },
  append: { value: false },
});
const JSON_CONTENT_TYPE = header("content-type", "application/json");
const WWW_AUTHENTICATE = header("www-authenticate", 'Bearer realm="api", error="invalid_token"');

export interface ResponseSettings {
  /** Request headers that carry the key; removed before the request goes upstream. */
  credentialHeaders: string[];
}

const str = (value: string) => ({ stringValue: value });

/** The upstream request learns who called: these overwrite anything the client sent. */
const identityHeaders = (key: AuthKey) => [header("x-api-key-id", key.id), header("x-user-id", key.userId)];

function allowedMetadata(key: AuthKey) {
  const fields: Record<string, { stringValue: string }> = {
    api_key_id: str(key.id),
    user_id: str(key.userId),
  };
  if (key.stripeCustomerId) fields.stripe_customer_id = str(key.stripeCustomerId);
  return { fields };
}

/** Turns a decision into Envoy's CheckResponse. The only place that knows Envoy's response shapes. */
export function toCheckResponse(decision: Decision, settings: ResponseSettings): CheckResponse {
  if (decision.allowed) {
    const { key } = decision;
    return {
      status: { code: 0 },
      ok_response: {
        headers: identityHeaders(key),
        headers_to_remove: settings.credentialHeaders,
        response_headers_to_add: rateLimitHeaders(decision.limits),
      },
      dynamic_metadata: allowedMetadata(key),
    };
  }

  const status = HTTP_STATUS[decision.reason];
  const headers = [JSON_CONTENT_TYPE];
  if (status === 401) headers.push(WWW_AUTHENTICATE);
  if (decision.retryAfterSeconds !== undefined)
    headers.push(header("retry-after", String(decision.retryAfterSeconds)));
  if (decision.limits) headers.push(...rateLimitHeaders(decision.limits));
  const code = decision.reason.toLowerCase();
  const metadata: Record<string, { stringValue: string }> = { denied_reason: str(code) };
  if (decision.key) {
    metadata.api_key_id = str(decision.key.id);
    metadata.user_id = str(decision.key.userId);
  }
  return {
    status: { code: RPC_CODE[status], message: decision.message },
    denied_response: {
      status: { code: HTTP_STATUS_NAME[status] },
      headers,
      body: JSON.stringify({ error: { code, message: decision.message } }),
    },
    dynamic_metadata: { fields: metadata },
  };
}

/**
 * IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers) for both windows, plus the common
 * X-RateLimit-* trio for the window closest to running out. Reset values are seconds from now.
 */
export function rateLimitHeaders(limits: LimitResult): HeaderValueOption[] {
  const remaining = (w: WindowState) => Math.max(0, w.limit - w.used);
  const reset = (w: WindowState) => Math.ceil(w.resetMs / 1000);
  const tightest = remaining(limits.day) < remaining(limits.minute) ? limits.day : limits.minute;
  return [
    header(
      "ratelimit-policy",
      `"minute";q=${limits.minute.limit};w=${MINUTE.spanSeconds}, "day";q=${limits.day.limit};w=${DAY.spanSeconds}`,
    ),
    header(
      "ratelimit",
      `"minute";r=${remaining(limits.minute)};t=${reset(limits.minute)}, "day";r=${remaining(limits.day)};t=${reset(limits.day)}`,
    ),
    header("x-ratelimit-limit", String(tightest.limit)),
    header("x-ratelimit-remaining", String(remaining(tightest))),
    header("x-ratelimit-reset", String(reset(tightest))),
  ];
}

/** CheckResponse.ok_response: field 3, length-delimited. */
const OK_RESPONSE_TAG = Buffer.from([(3 << 3) | 2]);

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    bytes.push((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * Encodes the CheckResponse of an allowed check, the answer to nearly every call, from parts: what
 * depends only on the key (its identity headers, the headers to remove, its dynamic metadata) is
 * encoded once per key record and kept beside it; only the rate-limit headers are encoded per check.
 * The bytes are those of toCheckResponse() put through the service definition's serializer (a test
 * holds the two together), at a fraction of the cost.
 */
export class AllowedResponseEncoder {
  private readonly CheckResponse = authMessageType("envoy.service.auth.v3.CheckResponse");
  private readonly OkHttpResponse = authMessageType("envoy.service.auth.v3.OkHttpResponse");
  private readonly status = this.CheckResponse.encode({ status: { code: 0 } }).finish();
  /** Key records are replaced, never changed, when a key changes; a dropped record takes its parts along. */
  private readonly parts = new WeakMap<AuthKey, { ok: Uint8Array; metadata: Uint8Array }>();

  constructor(private readonly settings: ResponseSettings) {}

  encode(key: AuthKey, limits: LimitResult): Buffer {
    let parts = this.parts.get(key);
    if (!parts) {
      parts = {
        ok: this.OkHttpResponse.encode({
          headers: identityHeaders(key),
          headers_to_remove: this.settings.credentialHeaders,
        }).finish(),
        metadata: this.CheckResponse.encode({ dynamic_metadata: allowedMetadata(key) }).finish(),
      };
      this.parts.set(key, parts);
    }
    const rate = this.OkHttpResponse.encode({ response_headers_to_add: rateLimitHeaders(limits) }).finish();
    return Buffer.concat([
      this.status,
      OK_RESPONSE_TAG,
      varint(parts.ok.length + rate.length),
      parts.ok,
      rate,
      parts.metadata,
    ]);
  }
}
