import { randomUUID } from "node:crypto";
import { type CheckRequest, type CheckResponse__Output, loadEnvoyServices } from "@gateway/proto";
import * as grpc from "@grpc/grpc-js";

export interface EnvoyRequestOptions {
  /** Extra or overriding request headers (lower-case names, as Envoy sends them). */
  headers?: Record<string, string>;
  /** Send the headers as Envoy's encode_raw_headers does: a header_map of raw byte values. */
  rawHeaders?: boolean;
  contextExtensions?: Record<string, string>;
  path?: string;
}

/**
 * A CheckRequest shaped as Envoy's HTTP ext_authz filter builds it: pseudo-headers and the headers the
 * connection manager adds, lower-case names, the stream id as http.id (not x-request-id), empty query.
 */
export function envoyCheckRequest(options: EnvoyRequestOptions = {}): CheckRequest {
  const path = options.path ?? "/v1/things?page=2";
  const headers: Record<string, string> = {
    ":authority": "api.example.com",
    ":method": "GET",
    ":path": path,
    ":scheme": "http",
    accept: "*/*",
    "user-agent": "curl/8.5.0",
    "x-forwarded-for": "203.0.113.9",
    "x-forwarded-proto": "http",
    "x-request-id": randomUUID(),
    "x-envoy-internal": "true",
    ...options.headers,
  };
  const http: NonNullable<NonNullable<CheckRequest["attributes"]>["request"]>["http"] = {
    id: "13359530607844510314",
    method: "GET",
    path,
    host: "api.example.com",
    scheme: "http",
    protocol: "HTTP/1.1",
    size: "0",
  };
  if (options.rawHeaders) {
    http.header_map = {
      headers: Object.entries(headers).map(([key, value]) => ({
        key,
        raw_value: Buffer.from(value, "utf8"),
      })),
    };
  } else {
    http.headers = headers;
  }
  return {
    attributes: {
      source: { address: { socket_address: { address: "203.0.113.9", port_value: 51234 } } },
      destination: { address: { socket_address: { address: "10.0.0.5", port_value: 8000 } } },
      request: { time: { seconds: String(Math.floor(Date.now() / 1000)), nanos: 0 }, http },
      context_extensions: options.contextExtensions ?? {},
    },
  };
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/**
 * A real gRPC client, as Envoy would be, for one service instance; with `token`, every call carries
 * it as x-gateway-token, as envoy.yaml's initial_metadata sends it.
 */
export function authzClient(port: number, token?: string) {
  const Authorization = loadEnvoyServices().envoy.service.auth.v3.Authorization;
  const client = new Authorization(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set("x-gateway-token", token);
  // Generous: the tests assert decisions; answer times are measured by the benchmark and the fault tests.
  const check = (request: CheckRequest, deadlineMs = 2_000) =>
    new Promise<CheckResponse__Output>((resolve, reject) => {
      client.Check(request, metadata, { deadline: Date.now() + deadlineMs }, (err, response) =>
        err || !response ? reject(err ?? new Error("no response")) : resolve(response),
      );
    });
  return { check, close: () => client.close() };
}

/** Response headers as a plain name -> value map, for assertions. */
export function headerMap(options: { header?: { key?: string; value?: string } | null }[] | undefined) {
  return Object.fromEntries((options ?? []).map((o) => [o.header?.key ?? "", o.header?.value ?? ""]));
}

/** The string fields of a Struct, for assertions. */
export function metadataOf(response: CheckResponse__Output): Record<string, string | undefined> {
  const fields = response.dynamic_metadata?.fields ?? {};
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.stringValue ?? undefined]));
}
