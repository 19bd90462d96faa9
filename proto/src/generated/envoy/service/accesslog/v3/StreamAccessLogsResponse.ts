// Original file: /work/main/node_modules/.pnpm/@grpc+grpc-js-xds@1.14.1_@grpc+grpc-js@1.14.7/node_modules/@grpc/grpc-js-xds/deps/envoy-api/envoy/service/accesslog/v3/als.proto


export interface StreamAccessLogsResponse {
}

export interface StreamAccessLogsResponse__Output {
}
