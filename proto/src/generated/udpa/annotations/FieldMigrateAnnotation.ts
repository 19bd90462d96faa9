// Original file: /work/main/node_modules/.pnpm/@grpc+grpc-js-xds@1.14.1_@grpc+grpc-js@1.14.7/node_modules/@grpc/grpc-js-xds/deps/xds/udpa/annotations/migrate.proto


export interface FieldMigrateAnnotation {
  'rename'?: (string);
  'oneof_promotion'?: (string);
}

export interface FieldMigrateAnnotation__Output {
  'rename'?: (string);
  'oneof_promotion'?: (string);
}
