// What the interop tests reuse from the rest of the workspace, in one place: api-key-service's test
// fixture and Envoy-shaped requests, the shared test services, the process harness, and Envoy's protos.

export { authzClient, bearer, envoyCheckRequest, headerMap } from "../../../api-key-service/test/envoy.js";
export {
  type Api,
  counterTotal,
  describe,
  expect,
  GRPC_SERVERS,
  startApi,
  test,
} from "../../../api-key-service/test/fixtures.js";
export {
  type CheckRequest,
  type CheckResponse__Output,
  loadEnvoyServices,
} from "../../../proto/src/index.js";
export { freePort, portOpen, startProcess } from "../../harness/src/index.js";
export { grpcPrefix, startTcpProxy, type TestServices } from "../../testing/src/index.js";
