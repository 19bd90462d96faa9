// faults/ is not a workspace package of its own, so `@gateway/testing` and `@grpc/grpc-js` do not
// resolve by name from here. These re-exports reach them through the packages that own them; once
// faults/ has a package.json listing both, import them by name and delete this file.
export * from "../../packages/testing/src/index.js";
export * as grpc from "../../proto/node_modules/@grpc/grpc-js/build/src/index.js";
