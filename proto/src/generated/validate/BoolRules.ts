// Original file: /work/main/node_modules/.pnpm/@grpc+grpc-js-xds@1.14.1_@grpc+grpc-js@1.14.7/node_modules/@grpc/grpc-js-xds/deps/protoc-gen-validate/validate/validate.proto


export interface BoolRules {
  'const'?: (boolean);
}

export interface BoolRules__Output {
  'const'?: (boolean);
}
