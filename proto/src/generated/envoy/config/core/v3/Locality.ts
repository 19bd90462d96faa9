// Original file: /work/main/node_modules/.pnpm/@grpc+grpc-js-xds@1.14.1_@grpc+grpc-js@1.14.7/node_modules/@grpc/grpc-js-xds/deps/envoy-api/envoy/config/core/v3/base.proto


export interface Locality {
  'region'?: (string);
  'zone'?: (string);
  'sub_zone'?: (string);
}

export interface Locality__Output {
  'region'?: (string);
  'zone'?: (string);
  'sub_zone'?: (string);
}
