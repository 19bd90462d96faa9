/**
 * The no-op servers: the real service definition, every check allowed at once. argv[2] picks the
 * HTTP/2 stack: `grpc-js` (the service's server before packages/h2-grpc) or `h2` (our own
 * H2GrpcServer, the one the service runs); `h2-redis` is `h2` that asks Redis a PING (argv[3]: its
 * host:port) before each answer, one round trip per call written as the limiter writes its calls (a
 * pipeline per turn of the event loop), for the price of the hop a check of a key not leased to
 * makes (docs/AUTHZ.md).
 * Whatever the real service does beyond these is what the ratios in the report measure. Prints
 * `{"port":N}` on stdout once bound.
 */

import { connect } from "node:net";
import { H2GrpcServer } from "@gateway/h2-grpc";
import { AUTHORIZATION_CHECK_PATH, type AuthorizationHandlers, loadEnvoyServices } from "@gateway/proto";
import * as grpc from "@grpc/grpc-js";

const kind = process.argv[2] ?? "grpc-js";
const check = loadEnvoyServices().envoy.service.auth.v3.Authorization.service;

function announce(port: number): void {
  process.stdout.write(`${JSON.stringify({ port })}\n`);
}

/** PINGs on one connection, those of one turn written together; each resolves with its +PONG. */
class PingPipeline {
  private readonly socket;
  private readonly waiting: Array<() => void> = [];
  private queued = 0;
  /** Bytes of a reply read so far ("+PONG\r\n" is 7). */
  private partial = 0;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port });
    this.socket.setNoDelay(true);
    this.socket.on("data", (chunk: Buffer) => {
      const total = this.partial + chunk.length;
      this.partial = total % 7;
      for (let n = Math.floor(total / 7); n > 0; n--) this.waiting.shift()?.();
    });
    this.socket.on("error", (err) => {
      console.error(`noop-server: Redis: ${err.message}`);
      process.exit(1);
    });
  }

  ping(): Promise<void> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      if (this.queued++ === 0) {
        process.nextTick(() => {
          this.socket.write("PING\r\n".repeat(this.queued));
          this.queued = 0;
        });
      }
    });
  }
}

let stop: () => void;
if (kind === "h2") {
  const allowed = check.Check.responseSerialize({ status: { code: 0 } });
  const server = new H2GrpcServer();
  server.addUnary(AUTHORIZATION_CHECK_PATH, () => allowed);
  announce(await server.listen("127.0.0.1", 0));
  stop = () => void server.close(1_000);
} else if (kind === "h2-redis") {
  const [host, port] = (process.argv[3] ?? "127.0.0.1:6379").split(":");
  const ping = new PingPipeline(host ?? "127.0.0.1", Number(port ?? 6379));
  const allowed = check.Check.responseSerialize({ status: { code: 0 } });
  const server = new H2GrpcServer();
  server.addUnary(AUTHORIZATION_CHECK_PATH, async () => {
    await ping.ping();
    return allowed;
  });
  announce(await server.listen("127.0.0.1", 0));
  stop = () => void server.close(1_000);
} else if (kind === "grpc-js") {
  const handlers: AuthorizationHandlers = {
    Check: (_call, callback) => callback(null, { status: { code: 0 } }),
  };
  // The service's own server options before h2-grpc, so this differs only in the work per check.
  const server = new grpc.Server({ "grpc.max_concurrent_streams": 10_000 });
  server.addService(check, handlers);
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      console.error(`noop-server: ${err.message}`);
      process.exit(1);
    }
    announce(port);
  });
  stop = () => server.forceShutdown();
} else {
  console.error(`noop-server: unknown kind "${kind}" (grpc-js, h2 or h2-redis)`);
  process.exit(2);
}

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    stop();
    process.exit(0);
  });
}
// The orchestrator owns this process: when it goes away (its stdin closes), so does the server.
process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
