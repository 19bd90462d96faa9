/** gRPC over HTTP/2 as the server writes it: status codes, message framing and header blocks. */
import { encodeIndexedField, encodeLiteralField } from "./hpack.js";

/** gRPC status codes (grpc/grpc doc/statuscodes.md). */
export const Status = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

/** A handler's way to end a call with a status other than OK. */
export class GrpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** One message with its 5-byte prefix: not compressed, then the length. */
export function lengthPrefixed(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

/**
 * An HPACK dynamic table size update to 0 (RFC 7541 4.2, 6.3) opens every header block we send: we use
 * no dynamic table, and a client that lowered SETTINGS_HEADER_TABLE_SIZE below 4,096, before a call or
 * during one, must see an update at the start of the next block (nghttp2 refuses the block otherwise).
 * Sending it when nothing changed is allowed; it costs one byte.
 */
const TABLE_SIZE_ZERO = Buffer.from([0x20]);

/** `:status: 200` and the content type: every gRPC answer starts with this block. */
export const RESPONSE_HEADERS = Buffer.concat([
  TABLE_SIZE_ZERO,
  encodeIndexedField(":status", "200"),
  encodeLiteralField("content-type", "application/grpc"),
]);

const OK_TRAILERS = Buffer.concat([TABLE_SIZE_ZERO, encodeLiteralField("grpc-status", "0")]);

/** grpc-status, and grpc-message when there is one. */
function statusFields(code: number, message: string): Buffer[] {
  const fields = [encodeLiteralField("grpc-status", String(code))];
  if (message !== "") fields.push(encodeLiteralField("grpc-message", percentEncode(message)));
  return fields;
}

/** The trailers of a call: a header block of their own. */
export function trailersBlock(code: number, message = ""): Buffer {
  if (code === Status.OK && message === "") return OK_TRAILERS;
  return Buffer.concat([TABLE_SIZE_ZERO, ...statusFields(code, message)]);
}

/** A trailers-only answer: the whole call in one HEADERS frame (one block, one size update). */
export function trailersOnlyBlock(code: number, message: string): Buffer {
  return Buffer.concat([RESPONSE_HEADERS, ...statusFields(code, message)]);
}

/** A bare HTTP answer for requests that are not gRPC at all (wrong method or content type). */
export function httpStatusBlock(status: number): Buffer {
  return Buffer.concat([TABLE_SIZE_ZERO, encodeLiteralField(":status", String(status))]);
}

/** grpc-message is percent-encoded UTF-8: printable ASCII other than `%` stays as it is. */
export function percentEncode(text: string): string {
  let out = "";
  for (const byte of Buffer.from(text, "utf8")) {
    out +=
      byte >= 0x20 && byte <= 0x7e && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}
