import { describe, expect, test } from "vitest";
import { AUTHORIZATION_CHECK_PATH, loadEnvoyServices, STREAM_ACCESS_LOGS_PATH } from "../src/index.js";

describe("Envoy service definitions", () => {
  const envoy = loadEnvoyServices();
  const check = envoy.envoy.service.auth.v3.Authorization.service.Check;
  const stream = envoy.envoy.service.accesslog.v3.AccessLogService.service.StreamAccessLogs;

  test("have Envoy's method paths and streaming shapes", () => {
    expect(check.path).toBe(AUTHORIZATION_CHECK_PATH);
    expect([check.requestStream, check.responseStream]).toEqual([false, false]);
    expect(stream.path).toBe(STREAM_ACCESS_LOGS_PATH);
    expect([stream.requestStream, stream.responseStream]).toEqual([true, false]);
  });

  test("a CheckRequest as Envoy sends it survives the wire", () => {
    const request = {
      attributes: {
        source: { address: { socket_address: { address: "10.0.0.7", port_value: 51234 } } },
        request: {
          time: { seconds: "1700000000", nanos: 5 },
          http: {
            id: "13359530607844510314",
            method: "GET",
            headers: { ":path": "/v1/things?x=1", authorization: "Bearer abc", "x-request-id": "r-1" },
            path: "/v1/things?x=1",
            protocol: "HTTP/1.1",
          },
        },
        context_extensions: { required_scopes: "read" },
      },
    };
    const decoded = check.requestDeserialize(check.requestSerialize(request));
    expect(decoded).toMatchObject(request);
  });

  test("a CheckResponse keeps struct values written in camelCase, and drops snake_case ones", () => {
    const response = {
      status: { code: 0 },
      ok_response: {
        headers: [{ header: { key: "x-api-key-id", value: "key_1" }, append: { value: false } }],
      },
      dynamic_metadata: { fields: { api_key_id: { stringValue: "key_1" }, wrong: { string_value: "lost" } } },
    };
    const decoded = check.responseDeserialize(check.responseSerialize(response as never));
    expect(decoded.dynamic_metadata?.fields?.api_key_id).toMatchObject({ stringValue: "key_1" });
    expect(decoded.dynamic_metadata?.fields?.wrong?.stringValue).toBeUndefined();
    expect(decoded.ok_response?.headers?.[0]?.append).toEqual({ value: false });
  });
});
