import { authMessageType, type CheckResponse, type HeaderValueOption } from "@gateway/proto";
import {
  denialBody,
  denialFields,
  denialStatus,
  type HeaderField,
  identityFields,
  rateLimitFields,
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

interface HeaderSizes {
  key: number;
  value: number;
  /** HeaderValue's body. */
  header: number;
  /** HeaderValueOption's body. */
  option: number;
}

function headerSizes(key: string, value: string): HeaderSizes {
  const k = Buffer.byteLength(key);
  const v = Buffer.byteLength(value);
  const header = 1 + varintSize(k) + k + 1 + varintSize(v) + v;
  return { key: k, value: v, header, option: 1 + varintSize(header) + header + APPEND_FALSE.length };
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
  private readonly parts = new WeakMap<AuthKey, Map<number, { ok: Uint8Array; metadata: Uint8Array }>>();

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
    const fields = rateLimitFields(limits);
    const sizes = fields.map(([key, value]) => headerSizes(key, value));
    let rateSize = 0;
    for (const { option } of sizes) rateSize += 1 + varintSize(option) + option;
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
    for (let i = 0; i < fields.length; i++) {
      const [key, value] = fields[i] as [string, string];
      const size = sizes[i] as HeaderSizes;
      out[at++] = RESPONSE_HEADERS_TO_ADD_TAG;
      at = writeVarint(out, at, size.option);
      out[at++] = FIELD_1;
      at = writeVarint(out, at, size.header);
      out[at++] = FIELD_1;
      at = writeVarint(out, at, size.key);
      at += out.write(key, at);
      out[at++] = FIELD_2;
      at = writeVarint(out, at, size.value);
      at += out.write(value, at);
      for (const byte of APPEND_FALSE) out[at++] = byte;
    }
    out.set(parts.metadata, at);
    return out;
  }
}
