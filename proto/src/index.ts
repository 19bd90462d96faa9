import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { loadSync, type Options } from "@grpc/proto-loader";
import { loadProtosWithOptionsSync } from "@grpc/proto-loader/build/src/util.js";
import type { ProtoGrpcType as AccessLogProto } from "./generated/als.js";
import type { ProtoGrpcType as AuthProto } from "./generated/external_auth.js";

export type { HeaderValueOption } from "./generated/envoy/config/core/v3/HeaderValueOption.js";
export type { HTTPAccessLogEntry__Output } from "./generated/envoy/data/accesslog/v3/HTTPAccessLogEntry.js";
export type { AccessLogServiceHandlers } from "./generated/envoy/service/accesslog/v3/AccessLogService.js";
export type {
  StreamAccessLogsMessage,
  StreamAccessLogsMessage__Output,
} from "./generated/envoy/service/accesslog/v3/StreamAccessLogsMessage.js";
export type { StreamAccessLogsResponse } from "./generated/envoy/service/accesslog/v3/StreamAccessLogsResponse.js";
export type { AttributeContext__Output } from "./generated/envoy/service/auth/v3/AttributeContext.js";
export type { AuthorizationHandlers } from "./generated/envoy/service/auth/v3/Authorization.js";
export type { CheckRequest, CheckRequest__Output } from "./generated/envoy/service/auth/v3/CheckRequest.js";
export type {
  CheckResponse,
  CheckResponse__Output,
} from "./generated/envoy/service/auth/v3/CheckResponse.js";
export type { Struct } from "./generated/google/protobuf/Struct.js";

/** The proto files are Envoy's own, as vendored by @grpc/grpc-js-xds (never retyped here). */
export function envoyProtoIncludeDirs(): string[] {
  const require = createRequire(import.meta.url);
  const deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
  return ["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => join(deps, d));
}

/**
 * The options the generated types assume. keepCase keeps Envoy's snake_case field names; note that
 * google.protobuf well-known types (Struct, Value) still use camelCase (`stringValue`).
 */
export const LOADER_OPTIONS: Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

export type EnvoyServices = AuthProto & AccessLogProto;

let loaded: EnvoyServices | undefined;

/** Loads ext_authz (Authorization) and the access-log service; parsed once per process. */
export function loadEnvoyServices(): EnvoyServices {
  if (!loaded) {
    const definition = loadSync(
      ["envoy/service/auth/v3/external_auth.proto", "envoy/service/accesslog/v3/als.proto"],
      {
        ...LOADER_OPTIONS,
        includeDirs: envoyProtoIncludeDirs(),
      },
    );
    loaded = grpc.loadPackageDefinition(definition) as unknown as EnvoyServices;
  }
  return loaded;
}

let authRoot: ReturnType<typeof loadProtosWithOptionsSync> | undefined;

/**
 * A protobufjs message type of the ext_authz API (e.g. "envoy.service.auth.v3.CheckResponse"), for
 * encoding hot-path messages directly: proto-loader's serializer first converts the whole object
 * with `fromObject`, which costs as much again as the encoding itself.
 */
export function authMessageType(fullName: string) {
  authRoot ??= loadProtosWithOptionsSync("envoy/service/auth/v3/external_auth.proto", {
    keepCase: true,
    includeDirs: envoyProtoIncludeDirs(),
  });
  return authRoot.lookupType(fullName);
}

export const AUTHORIZATION_CHECK_PATH = "/envoy.service.auth.v3.Authorization/Check";
export const STREAM_ACCESS_LOGS_PATH = "/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs";
