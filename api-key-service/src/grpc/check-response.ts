import { authMessageType, type CheckResponse, type HeaderValueOption } from "@gateway/proto";
import {
  denialBody,
  denialFields,
  denialStatus,
  type HeaderField,
  identityFields,
  rateLimitFields,
  rateLimitPolicy,
} from "../authz/answer-headers.js";
import type { AuthKey, Decision } from "../authz/decision.js";
import type { LimitResult } from "../authz/sliding-window.js";

// google.rpc.Code: only "non-zero" matters to Envoy; these make logs and gRPC clients readable.
const RPC_CODE = { 401: 16, 402: 9, 403: 7, 429: 8, 500: 13, 503: 14 } as const;
const HTTP_STATUS_NAME = {
  401: "Unauthorized",
  402: "PaymentRequired",
  403: "Forbidden",
  429: "TooManyRequests",
  500: "InternalServerError",
  503: "ServiceUnavailable",
} as const;

/** `append: false` is an overwrite on every Envoy version; leaving it unset is not (see the protocol notes). */
const header = ([key, value]: HeaderField): HeaderValueOption => ({
  header: { key, value },
  append: { value: false },
});

export interface ResponseSettings {
  /** Request headers that carry the key; removed before the request goes upstream. */
  credentialHeaders: string[];
}

const str = (value: string) => ({ stringValue: value });

/** What the access log carries into billing: who was allowed, and how many units the request is. */
function allowedMetadata(key: AuthKey, units: number) {
  const fields: Record<string, { stringValue: string }> = {
    api_key_id: str(key.id),
    user_id: str(key.userId),
    units: str(String(units)),
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
        headers: identityFields(key).map(header),
        headers_to_remove: settings.credentialHeaders,
        response_headers_to_add: rateLimitHeaders(decision.limits),
      },
      dynamic_metadata: allowedMetadata(key, decision.units),
    };
  }

  const status = denialStatus(decision);
  const metadata: Record<string, { stringValue: string }> = {
    denied_reason: str(decision.reason.toLowerCase()),
  };
  if (decision.key) {
    metadata.api_key_id = str(decision.key.id);
    metadata.user_id = str(decision.key.userId);
  }
  return {
    status: { code: RPC_CODE[status], message: decision.message },
    denied_response: {
      status: { code: HTTP_STATUS_NAME[status] },
      headers: denialFields(decision).map(header),
      body: denialBody(decision),
    },
    dynamic_metadata: { fields: metadata },
  };
}

/** The rate-limit headers (authz/answer-headers.ts) as Envoy's header options. */
export function rateLimitHeaders(limits: LimitResult): HeaderValueOption[] {
  return rateLimitFields(limits).map(header);
}

/** CheckResponse.ok_response: field 3, length-delimited. */
const OK_RESPONSE_TAG = (3 << 3) | 2;
/** OkHttpResponse.response_headers_to_add: field 6, length-delimited. */
const RESPONSE_HEADERS_TO_ADD_TAG = (6 << 3) | 2;
/** HeaderValueOption.header (field 1) and HeaderValue.key / .value (fields 1 and 2). */
const FIELD_1 = (1 << 3) | 2;
const FIELD_2 = (2 << 3) | 2;
/** HeaderValueOption.append = BoolValue { value: false }: field 2, length 2, then field 1 = 0. */
const APPEND_FALSE = [FIELD_2, 2, 1 << 3, 0];

function varintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest > 0x7f; rest >>>= 7) size++;
  return size;
}

function writeVarint(buf: Buffer, at: number, value: number): number {
  let offset = at;
  let rest = value;
  while (rest > 0x7f) {
    buf[offset++] = (rest & 0x7f) | 0x80;
    rest >>>= 7;
  }
  buf[offset++] = rest;
  return offset;
}

/** HeaderValueOption's body for a header whose key and value take `key` and `value` bytes. */
function optionSize(key: number, value: number): number {
  const header = 1 + varintSize(key) + key + 1 + varintSize(value) + value;
  return 1 + varintSize(header) + header + APPEND_FALSE.length;
}

/** One response_headers_to_add entry (tag, length, HeaderValueOption) written at `at`; returns the end. */
function writeOption(
  out: Buffer,
  at: number,
  key: string,
  keySize: number,
  value: string,
  valueSize: number,
) {
  const header = 1 + varintSize(keySize) + keySize + 1 + varintSize(valueSize) + valueSize;
  let to = at;
  out[to++] = RESPONSE_HEADERS_TO_ADD_TAG;
  to = writeVarint(out, to, 1 + varintSize(header) + header + APPEND_FALSE.length);
  out[to++] = FIELD_1;
  to = writeVarint(out, to, header);
  out[to++] = FIELD_1;
  to = writeVarint(out, to, keySize);
  to += out.write(key, to);
  out[to++] = FIELD_2;
  to = writeVarint(out, to, valueSize);
  to += out.write(value, to);
  for (const byte of APPEND_FALSE) out[to++] = byte;
  return to;
}

/** The RateLimit-Policy entry of one key record and billing period, encoded once. */
interface KeptPolicy {
  minute: number;
  day: number;
  /** The quota's limit and period, -1 without a quota. */
  quota: number;
  start: number;
  end: number;
  value: string;
  bytes: Buffer;
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
  /**
   * Per key record and cost (routes have a handful of costs). Key records are replaced, never
   * changed, when a key changes; a dropped record takes its parts along.
   */
  private readonly parts = new WeakMap<AuthKey, Map<number, Parts>>();
  /** Byte sizes of each field's key and value, reused by every call (encode runs to its end at once). */
  private readonly sizes: number[] = [];

  constructor(private readonly settings: ResponseSettings) {}

  encode(key: AuthKey, limits: LimitResult, units: number): Buffer {
    let byCost = this.parts.get(key);
    if (!byCost) {
      byCost = new Map();
      this.parts.set(key, byCost);
    }
    let parts = byCost.get(units);
    if (!parts) {
      parts = {
        ok: this.OkHttpResponse.encode({
          headers: identityFields(key).map(header),
          headers_to_remove: this.settings.credentialHeaders,
        }).finish(),
        metadata: this.CheckResponse.encode({ dynamic_metadata: allowedMetadata(key, units) }).finish(),
      };
      byCost.set(units, parts);
    }
    const policy = this.policyOf(parts, limits);
    // The policy is the first field; it is written from the bytes kept for the key record.
    const fields = rateLimitFields(limits, policy.value);
    const sizes = this.sizes;
    let rateSize = policy.bytes.length;
    for (let i = 1; i < fields.length; i++) {
      const [key, value] = fields[i] as HeaderField;
      const keySize = Buffer.byteLength(key);
      const valueSize = Buffer.byteLength(value);
      sizes[2 * i] = keySize;
      sizes[2 * i + 1] = valueSize;
      const option = optionSize(keySize, valueSize);
      rateSize += 1 + varintSize(option) + option;
    }
    const okSize = parts.ok.length + rateSize;
    const out = Buffer.allocUnsafe(
      this.status.length + 1 + varintSize(okSize) + okSize + parts.metadata.length,
    );
    out.set(this.status, 0);
    let at = this.status.length;
    out[at++] = OK_RESPONSE_TAG;
    at = writeVarint(out, at, okSize);
    out.set(parts.ok, at);
    at += parts.ok.length;
    // OkHttpResponse's fields may be concatenated: a repeated field's entries appended after the
    // per-key part decode exactly as if encoded together (a test holds this to the serializer's bytes).
    out.set(policy.bytes, at);
    at += policy.bytes.length;
    for (let i = 1; i < fields.length; i++) {
      const [key, value] = fields[i] as HeaderField;
      at = writeOption(out, at, key, sizes[2 * i] as number, value, sizes[2 * i + 1] as number);
    }
    out.set(parts.metadata, at);
    return out;
  }

  /**
   * RateLimit-Policy as one encoded entry, kept beside the key's parts: it changes only with the key
   * record's limits or its quota's period, which are checked on every call.
   */
  private policyOf(parts: Parts, limits: LimitResult): KeptPolicy {
    const quota = limits.quota;
    const kept = parts.policy;
    if (
      kept &&
      kept.minute === limits.minute.limit &&
      kept.day === limits.day.limit &&
      kept.quota === (quota ? quota.limit : -1) &&
      kept.start === (quota ? quota.periodStart : -1) &&
      kept.end === (quota ? quota.periodEnd : -1)
    ) {
      return kept;
    }
    const value = rateLimitPolicy(limits);
    const keySize = Buffer.byteLength(POLICY);
    const valueSize = Buffer.byteLength(value);
    const option = optionSize(keySize, valueSize);
    const bytes = Buffer.alloc(1 + varintSize(option) + option);
    writeOption(bytes, 0, POLICY, keySize, value, valueSize);
    parts.policy = {
      minute: limits.minute.limit,
      day: limits.day.limit,
      quota: quota ? quota.limit : -1,
      start: quota ? quota.periodStart : -1,
      end: quota ? quota.periodEnd : -1,
      value,
      bytes,
    };
    return parts.policy;
  }
}

const POLICY = "ratelimit-policy";

/** What is kept per key record and cost. */
interface Parts {
  ok: Uint8Array;
  metadata: Uint8Array;
  policy?: KeptPolicy;
}
