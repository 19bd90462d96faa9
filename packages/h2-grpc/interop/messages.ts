import { service as healthService } from "grpc-health-check";
import {
  bearer,
  type CheckRequest,
  type CheckResponse__Output,
  envoyCheckRequest,
  grpcPrefix,
  loadEnvoyServices,
} from "./workspace.js";

/** The methods the interop tests call, with protobufjs (proto-loader) serializers for each. */
const check = loadEnvoyServices().envoy.service.auth.v3.Authorization.service.Check;
const health = healthService.Check as NonNullable<typeof healthService.Check>;

export const CHECK_PATH = check.path;
export const HEALTH_PATH = health.path;

export const encodeCheckRequest = (request: CheckRequest): Buffer => check.requestSerialize(request);
export const decodeCheckResponse = (bytes: Buffer): CheckResponse__Output =>
  check.responseDeserialize(bytes) as CheckResponse__Output;

export const encodeHealthRequest = (service: string): Buffer => health.requestSerialize({ service });
export const decodeHealthStatus = (bytes: Buffer): unknown =>
  (health.responseDeserialize(bytes) as { status?: unknown }).status;

/** One gRPC message as it travels in DATA frames: the 5-byte prefix, then the message. */
export const framed = (message: Buffer): Buffer => Buffer.concat([grpcPrefix(message.length), message]);

/** An Envoy-shaped CheckRequest carrying `key` as a bearer token (none: no credential). */
export const checkWithKey = (key?: string): Buffer =>
  encodeCheckRequest(envoyCheckRequest(key === undefined ? {} : { headers: bearer(key) }));

/**
 * A CheckRequest of about `bytes` bytes: the request headers Envoy forwards hold `key` and many large
 * fields, and the request body is buffered into the check (with_request_body), as a big upload sends it.
 */
export function largeCheckRequest(key: string, bytes: number): Buffer {
  const fields = 16;
  const each = Math.floor(bytes / 2 / fields);
  const headers: Record<string, string> = { ...bearer(key) };
  for (let i = 0; i < fields; i++) headers[`x-large-${i}`] = "h".repeat(each);
  const request = envoyCheckRequest({ headers });
  const http = request.attributes?.request?.http;
  if (http) {
    http.body = "b".repeat(Math.floor(bytes / 2));
    http.size = String(http.body.length);
  }
  return encodeCheckRequest(request);
}
