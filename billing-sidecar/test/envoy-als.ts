import { randomUUID } from "node:crypto";
import { loadEnvoyServices, type StreamAccessLogsMessage } from "@gateway/proto";
import * as grpc from "@grpc/grpc-js";

type Entry = NonNullable<NonNullable<StreamAccessLogsMessage["http_logs"]>["log_entry"]>[number];

export interface EntryOptions {
  keyId?: string;
  userId?: string;
  customer?: string;
  /** Omit for a request Envoy produced no response for. */
  code?: number;
  denied?: string;
  requestId?: string;
  startSeconds?: number;
  path?: string;
  /** ext_authz's `units` field: a string becomes a stringValue, an object is the Value as given. */
  units?: string | object;
  /**
   * The ext_authz metadata fields exactly as given (Check's dynamic_metadata, copied as Envoy does),
   * in place of those built from the options above.
   */
  extAuthzFields?: Record<string, object>;
}

/** An HTTP access-log entry shaped as Envoy's gRPC access logger fills it. */
export function httpEntry(options: EntryOptions = {}): Entry {
  const requestId = options.requestId ?? randomUUID();
  const fields: Record<string, object> = options.extAuthzFields ? { ...options.extAuthzFields } : {};
  if (!options.extAuthzFields) {
    if (options.keyId) fields.api_key_id = { stringValue: options.keyId };
    if (options.userId) fields.user_id = { stringValue: options.userId };
    if (options.customer) fields.stripe_customer_id = { stringValue: options.customer };
    if (options.denied) fields.denied_reason = { stringValue: options.denied };
    else if (options.keyId) fields.ext_authz_duration = { numberValue: 1 };
    if (options.units !== undefined)
      fields.units = typeof options.units === "string" ? { stringValue: options.units } : options.units;
  }
  const hasMetadata = Object.keys(fields).length > 0;
  return {
    common_properties: {
      start_time: { seconds: String(options.startSeconds ?? Math.floor(Date.now() / 1000)), nanos: 1000 },
      downstream_remote_address: { socket_address: { address: "203.0.113.9", port_value: 51234 } },
      ...(options.denied ? {} : { upstream_cluster: "backend" }),
      ...(hasMetadata
        ? { metadata: { filter_metadata: { "envoy.filters.http.ext_authz": { fields } } } }
        : {}),
      stream_id: requestId,
      access_log_type: "DownstreamEnd",
      ...(options.denied ? { response_flags: { unauthorized_details: { reason: "EXTERNAL_SERVICE" } } } : {}),
    },
    protocol_version: "HTTP11",
    request: {
      request_method: "GET",
      scheme: "http",
      authority: "api.example.com",
      path: options.path ?? "/v1/things",
      user_agent: "curl/8.5.0",
      request_id: requestId,
      request_headers_bytes: "120",
      request_body_bytes: "30",
    },
    response: {
      ...(options.code === undefined ? {} : { response_code: { value: options.code } }),
      response_headers_bytes: "80",
      response_body_bytes: "42",
      response_code_details: options.denied ? "ext_authz_denied" : "via_upstream",
    },
  };
}

/**
 * An access-log client as one Envoy worker: the identifier goes on the first message only; with
 * `token`, the stream carries it as x-gateway-token, as envoy.yaml's initial_metadata sends it.
 */
export function envoyAlsStream(port: number, nodeId = "edge-envoy-1", token?: string) {
  const Service = loadEnvoyServices().envoy.service.accesslog.v3.AccessLogService;
  const client = new Service(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set("x-gateway-token", token);
  let answered: unknown = "no answer";
  let resolveDone: (value: unknown) => void = () => {};
  const done = new Promise<unknown>((resolve) => {
    resolveDone = resolve;
  });
  const call = client.StreamAccessLogs(metadata, (err, response) => {
    answered = err ? `error ${err.code}` : response;
    resolveDone(answered);
  });
  const stream = {
    call,
    first: true,
    send(entries: Entry[]) {
      const message: StreamAccessLogsMessage = { http_logs: { log_entry: entries } };
      if (this.first) message.identifier = { node: { id: nodeId, cluster: "edge" }, log_name: "billing" };
      this.first = false;
      this.call.write(message);
    },
    sendTcp(count: number) {
      this.call.write({
        tcp_logs: { log_entry: Array.from({ length: count }, () => ({ common_properties: {} })) },
      });
    },
    /** Envoy resets the stream (worker shutdown, reconnect). */
    cancel() {
      this.call.cancel();
    },
    end() {
      this.call.end();
    },
    answered: () => answered,
    done,
    close: () => client.close(),
  };
  return stream;
}
