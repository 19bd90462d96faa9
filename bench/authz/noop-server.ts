/**
 * The ceiling: a grpc-js server with the real service definition that allows every check at once.
 * Whatever the real service does beyond this is what the ratio in the report measures. Prints
 * `{"port":N}` on stdout once bound.
 */

import { type AuthorizationHandlers, loadEnvoyServices } from "@gateway/proto";
import * as grpc from "@grpc/grpc-js";

const handlers: AuthorizationHandlers = {
  Check: (_call, callback) => callback(null, { status: { code: 0 } }),
};

// The service's own server options, so the ceiling differs from it only in the work per check.
const server = new grpc.Server({ "grpc.max_concurrent_streams": 10_000 });
server.addService(loadEnvoyServices().envoy.service.auth.v3.Authorization.service, handlers);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(`noop-server: ${err.message}`);
    process.exit(1);
  }
  process.stdout.write(`${JSON.stringify({ port })}\n`);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    server.forceShutdown();
    process.exit(0);
  });
}
// The orchestrator owns this process: when it goes away (its stdin closes), so does the server.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
