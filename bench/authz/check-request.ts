import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { AUTHORIZATION_CHECK_PATH, type CheckRequest, loadEnvoyServices } from "@gateway/proto";

/** HTTP/2 request headers of a unary gRPC call, as Envoy's ext_authz client sends them. */
export const CHECK_HEADERS = {
  ":method": "POST",
  ":path": AUTHORIZATION_CHECK_PATH,
  ":scheme": "http",
  "content-type": "application/grpc",
  te: "trailers",
} as const;

/** What Envoy sends for `GET /v1/things` with the key as a bearer token. */
export function checkRequestFor(
  key: string,
  sequence: number,
  contextExtensions: Record<string, string> = {},
): CheckRequest {
  const nowMs = Date.now();
  return {
    attributes: {
      source: { address: { socket_address: { address: "10.0.0.7", port_value: 51234 } } },
      destination: { address: { socket_address: { address: "10.0.0.2", port_value: 8080 } } },
      request: {
        time: { seconds: String(Math.floor(nowMs / 1000)), nanos: (nowMs % 1000) * 1_000_000 },
        http: {
          id: String(1_000_000 + sequence),
          method: "GET",
          headers: {
            ":authority": "api.example.com",
            ":method": "GET",
            ":path": "/v1/things",
            ":scheme": "http",
            authorization: `Bearer ${key}`,
            "user-agent": "bench",
            "x-forwarded-proto": "http",
            "x-request-id": randomUUID(),
          },
          path: "/v1/things",
          host: "api.example.com",
          scheme: "http",
          protocol: "HTTP/1.1",
        },
      },
      context_extensions: contextExtensions,
    },
  };
}

/** Serialized with the same proto-loader definition the service uses, then gRPC length-prefixed. */
export function encodeCheckRequest(request: CheckRequest): Buffer {
  const message =
    loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check.requestSerialize(request);
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

/** An allowing CheckResponse{status{code:0}}, serialized by the same definition and gRPC length-prefixed. */
export function encodeAllowedResponse(): Buffer {
  const message = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check.responseSerialize({
    status: { code: 0 },
  });
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

// Bodies travel to the generator as one file of length-prefixed frames, so the generator spends no
// CPU on protobuf encoding and h2load can be handed a single frame as its request body.
export function writeBodies(path: string, frames: readonly Buffer[]): void {
  const parts: Buffer[] = [];
  for (const frame of frames) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(frame.length, 0);
    parts.push(length, frame);
  }
  writeFileSync(path, Buffer.concat(parts));
}

export function readBodies(path: string): Buffer[] {
  const data = readFileSync(path);
  const frames: Buffer[] = [];
  let offset = 0;
  while (offset + 4 <= data.length) {
    const length = data.readUInt32BE(offset);
    frames.push(data.subarray(offset + 4, offset + 4 + length));
    offset += 4 + length;
  }
  if (offset !== data.length) throw new Error(`${path}: truncated body file`);
  return frames;
}

function readVarint(buf: Buffer, at: number): [value: number, next: number] {
  let value = 0;
  let shift = 0;
  let i = at;
  while (i < buf.length) {
    const byte = buf[i++] ?? 0;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, i];
    shift += 7;
    if (shift > 63) break;
  }
  return [Number.NaN, buf.length];
}

/** Skips one field's payload; returns the offset after it, or -1 when the wire type is unknown. */
function skipField(buf: Buffer, wireType: number, at: number): number {
  if (wireType === 0) return readVarint(buf, at)[1];
  if (wireType === 1) return at + 8;
  if (wireType === 5) return at + 4;
  if (wireType === 2) {
    const [length, next] = readVarint(buf, at);
    return next + length;
  }
  return -1;
}

/**
 * `CheckResponse.status.code` read straight off the wire (0 when absent, as proto3 defines it), or
 * -1 when the bytes do not parse. Cheap enough to run on every response, unlike a full decode.
 */
export function checkResponseCode(grpcBody: Buffer): number {
  if (grpcBody.length < 5 || grpcBody[0] !== 0) return -1;
  const end = 5 + grpcBody.readUInt32BE(1);
  if (end > grpcBody.length) return -1;
  let i = 5;
  while (i < end) {
    const [tag, afterTag] = readVarint(grpcBody, i);
    if (Number.isNaN(tag)) return -1;
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 1 && wireType === 2) {
      const [length, start] = readVarint(grpcBody, afterTag);
      return statusCode(grpcBody, start, start + length);
    }
    i = skipField(grpcBody, wireType, afterTag);
    if (i < 0) return -1;
  }
  return 0;
}

function statusCode(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end) {
    const [tag, afterTag] = readVarint(buf, i);
    if (Number.isNaN(tag)) return -1;
    if (tag === 8) return readVarint(buf, afterTag)[0];
    i = skipField(buf, tag & 7, afterTag);
    if (i < 0) return -1;
  }
  return 0;
}

/** The full decode, used on a sample of responses to cross-check `checkResponseCode`. */
export function decodeCheckResponse(grpcBody: Buffer) {
  const message = grpcBody.subarray(5, 5 + grpcBody.readUInt32BE(1));
  return loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check.responseDeserialize(message);
}
