// Original file: /work/main/node_modules/.pnpm/@grpc+grpc-js-xds@1.14.1_@grpc+grpc-js@1.14.7/node_modules/@grpc/grpc-js-xds/deps/envoy-api/envoy/config/core/v3/address.proto


export interface Pipe {
  'path'?: (string);
  'mode'?: (number);
}

export interface Pipe__Output {
  'path'?: (string);
  'mode'?: (number);
}
