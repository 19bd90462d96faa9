import { authMessageType, type CheckResponse, type HeaderValueOption } from "@gateway/proto";
import {
  denialBody,
  denialFields,
  denialStatus,
  type FieldWriter,
  type HeaderField,
  identityFields,
  rateLimitFields,
  rateLimitPolicy,
  writeRateLimitFields,
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

/**
 * Rate-limit fields (authz/answer-headers.ts; RateLimit-Policy too, once per key record) as
 * response_headers_to_add entries, built as one latin1 string (a character is a byte: field names and
 * values are ASCII) and written into the answer with one call. Byte by byte from JavaScript (a loop per value, or a Buffer call per field) cost more: under
 * callgrind, an allowed answer with a quota took ~30,000 instructions to encode with a string and a
 * Buffer write per field, ~18,000-22,000 this way, and one without ~17,000 against ~10,000-14,000.
 */
class HeaderOptionText implements FieldWriter {
  entries = "";
  /** HeaderValue.key of the field begun last, encoded (see keyPart), or "" before the first. */
  private key = "";
  private value = "";
  /** The last number written and its digits: a quota's remaining units appear twice in an answer. */
  private lastNumber = -1;
  private lastDigits = "";

  clear(): void {
    this.entries = "";
    this.key = "";
    this.value = "";
  }

  field(name: string): void {
    this.end();
    this.key = keyPart(name);
  }

  text(ascii: string): void {
    this.value += ascii;
  }

  number(n: number): void {
    if (n !== this.lastNumber) {
      this.lastNumber = n;
      this.lastDigits = String(n);
    }
    this.value += this.lastDigits;
  }

  /** Adds the field begun last as an entry. */
  end(): void {
    const key = this.key;
    if (!key) return;
    const value = this.value;
    const header = key.length + varintSize(value.length) + value.length;
    const option = 1 + varintSize(header) + header + APPEND_FALSE.length;
    this.entries += `${ENTRY_TAG}${varintText(option)}${FIELD_1_TEXT}${varintText(header)}${key}${varintText(value.length)}${value}${APPEND_FALSE_TEXT}`;
    this.key = "";
    this.value = "";
  }
}

/** HeaderValue's key field and the tag of its value field, by header name: built once per name. */
const keyParts = new Map<string, string>();
function keyPart(name: string): string {
  let part = keyParts.get(name);
  if (part === undefined) {
    part = `${FIELD_1_TEXT}${varintText(name.length)}${name}${FIELD_2_TEXT}`;
    keyParts.set(name, part);
  }
  return part;
}

const ENTRY_TAG = String.fromCharCode(RESPONSE_HEADERS_TO_ADD_TAG);
const FIELD_1_TEXT = String.fromCharCode(FIELD_1);
const FIELD_2_TEXT = String.fromCharCode(FIELD_2);
const APPEND_FALSE_TEXT = String.fromCharCode(...APPEND_FALSE);
const SHORT_VARINTS = Array.from({ length: 128 }, (_, n) => String.fromCharCode(n));
function varintText(value: number): string {
  if (value < 128) return SHORT_VARINTS[value] as string;
  let text = "";
  let rest = value;
  while (rest > 0x7f) {
    text += String.fromCharCode((rest & 0x7f) | 0x80);
    rest >>>= 7;
  }
  return text + String.fromCharCode(rest);
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
  private readonly status = asBuffer(this.CheckResponse.encode({ status: { code: 0 } }).finish());
  /**
   * Per key record and cost (routes have a handful of costs). Key records are replaced, never
   * changed, when a key changes; a dropped record takes its parts along.
   */
  private readonly parts = new WeakMap<AuthKey, Parts>();
  /** The rate-limit headers of the answer being encoded (encode runs to its end at once). */
  private readonly rateText = new HeaderOptionText();

  constructor(private readonly settings: ResponseSettings) {}

  encode(key: AuthKey, limits: LimitResult, units: number): Buffer {
    const first = this.parts.get(key);
    let parts = first;
    while (parts && parts.units !== units) parts = parts.next;
    if (!parts || !samePolicy(parts, limits)) {
      const fresh = this.partsFor(key, units, limits, parts);
      // In front of the key's list (without the ones it replaces): a route's cost is found first.
      fresh.next = withoutUnits(first, units, MAX_COSTS_KEPT - 1);
      this.parts.set(key, fresh);
      parts = fresh;
    }
    const rate = this.rateText;
    rate.clear();
    writeRateLimitFields(limits, rate);
    rate.end();
    const kept = parts.bytes;
    // OkHttpResponse: the key's part and the policy (kept), then this check's rate-limit entries.
    const okSize = parts.metadataStart + rate.entries.length;
    const out = Buffer.allocUnsafe(
      this.status.length + 1 + varintSize(okSize) + okSize + kept.length - parts.metadataStart,
    );
    let at = this.status.copy(out, 0);
    out[at++] = OK_RESPONSE_TAG;
    at = writeVarint(out, at, okSize);
    // OkHttpResponse's fields may be concatenated: a repeated field's entries appended after the
    // per-key part decode exactly as if encoded together (a test holds this to the serializer's bytes).
    at += kept.copy(out, at, 0, parts.metadataStart);
    at += out.write(rate.entries, at, "latin1");
    kept.copy(out, at, parts.metadataStart);
    return out;
  }

  /**
   * A key record's parts for a cost, or `old`'s again with a new RateLimit-Policy entry: it changes
   * only with the record's limits or its quota's period, which are checked on every call.
   */
  private partsFor(key: AuthKey, units: number, limits: LimitResult, old: Parts | undefined): Parts {
    const ok = old
      ? old.bytes.subarray(0, old.okEnd)
      : this.OkHttpResponse.encode({
          headers: identityFields(key).map(header),
          headers_to_remove: this.settings.credentialHeaders,
        }).finish();
    const metadata = old
      ? old.bytes.subarray(old.metadataStart)
      : this.CheckResponse.encode({ dynamic_metadata: allowedMetadata(key, units) }).finish();
    const policy = new HeaderOptionText();
    policy.field(POLICY);
    policy.text(rateLimitPolicy(limits));
    policy.end();
    const metadataStart = ok.length + policy.entries.length;
    const bytes = Buffer.allocUnsafeSlow(metadataStart + metadata.length);
    bytes.set(ok, 0);
    bytes.write(policy.entries, ok.length, "latin1");
    bytes.set(metadata, metadataStart);
    const quota = limits.quota;
    return {
      units,
      next: undefined,
      bytes,
      okEnd: ok.length,
      metadataStart,
      minute: limits.minute.limit,
      day: limits.day.limit,
      quota: quota ? quota.limit : -1,
      start: quota ? quota.periodStart : -1,
      end: quota ? quota.periodEnd : -1,
    };
  }
}

const POLICY = "ratelimit-policy";

/** Encoded bytes as a Buffer (protobufjs gives one on Node already): Buffer.copy is the cheaper copy. */
const asBuffer = (bytes: Uint8Array) =>
  Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/**
 * What is kept per key record and cost: the key's part of OkHttpResponse, its RateLimit-Policy entry
 * and the dynamic metadata, encoded, in one buffer of its own, and the terms the policy was written
 * for. protobufjs and Buffer.from() hand out small buffers as slices of shared 8 KB slabs, and one kept
 * slice keeps its whole slab alive: kept as such, the parts of 20,000 keys held 36 MB outside the
 * heap, most of it slabs of answers long sent. Three buffers of their own per key were 60,000
 * Buffers and ArrayBuffers for the garbage collector to trace and sweep.
 */
interface Parts {
  units: number;
  /** The same key record's parts for another cost: routes have a handful. */
  next: Parts | undefined;
  bytes: Buffer;
  /** The policy entry is at [okEnd, metadataStart); the metadata from metadataStart to the end. */
  okEnd: number;
  metadataStart: number;
  minute: number;
  day: number;
  /** The quota's limit and period, -1 without a quota. */
  quota: number;
  start: number;
  end: number;
}

/** Costs whose parts are kept per key record; past it the least recently added is dropped. */
const MAX_COSTS_KEPT = 16;

/** A key's list of parts without those of `units`, at most `max` long. */
function withoutUnits(list: Parts | undefined, units: number, max: number): Parts | undefined {
  if (!list || max <= 0) return undefined;
  if (list.units === units) return withoutUnits(list.next, units, max);
  list.next = withoutUnits(list.next, units, max - 1);
  return list;
}

function samePolicy(parts: Parts, limits: LimitResult): boolean {
  const quota = limits.quota;
  return (
    parts.minute === limits.minute.limit &&
    parts.day === limits.day.limit &&
    parts.quota === (quota ? quota.limit : -1) &&
    parts.start === (quota ? quota.periodStart : -1) &&
    parts.end === (quota ? quota.periodEnd : -1)
  );
}
