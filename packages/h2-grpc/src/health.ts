import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import * as protoLoader from "@grpc/proto-loader";
import { GrpcError, Status } from "./grpc-wire.js";
import type { H2GrpcServer } from "./server.js";
import type { H2Stream } from "./stream.js";

export type ServingStatus = "SERVING" | "NOT_SERVING";

interface Method {
  requestDeserialize(bytes: Buffer): { service?: string };
  responseSerialize(value: { status: string }): Buffer;
}

/** grpc.health.v1.Health's own proto, as grpc-health-check ships it. */
function loadHealth(): { Check: Method; Watch: Method } {
  const require = createRequire(import.meta.url);
  const protoDir = join(dirname(require.resolve("grpc-health-check/package.json")), "proto");
  const definition = protoLoader.loadSync("health/v1/health.proto", {
    includeDirs: [protoDir],
    keepCase: true,
    enums: String,
    defaults: true,
  });
  return definition["grpc.health.v1.Health"] as unknown as { Check: Method; Watch: Method };
}

/**
 * The standard gRPC health service (grpc/grpc doc/health-checking.md): Check answers a known
 * service's status or NOT_FOUND; Watch sends the status now and again at every change.
 */
export class HealthService {
  private readonly statuses: Map<string, ServingStatus>;
  private readonly watchers = new Map<string, Set<H2Stream>>();
  private readonly methods = loadHealth();

  constructor(initial: Record<string, ServingStatus>) {
    this.statuses = new Map(Object.entries(initial));
  }

  setStatus(service: string, status: ServingStatus): void {
    this.statuses.set(service, status);
    const message = this.methods.Watch.responseSerialize({ status });
    for (const watcher of this.watchers.get(service) ?? []) watcher.sendMessage(message);
  }

  addToServer(server: H2GrpcServer): void {
    server.addUnary("/grpc.health.v1.Health/Check", (request) => {
      const service = this.serviceOf(request);
      const status = this.statuses.get(service);
      // grpc-health-check's wording, so that both of api-key-service's gRPC servers answer alike.
      if (!status) throw new GrpcError(Status.NOT_FOUND, `Health status unknown for service ${service}`);
      return this.methods.Check.responseSerialize({ status });
    });
    server.addServerStream("/grpc.health.v1.Health/Watch", (request, call) => {
      const service = this.serviceOf(request);
      let watchers = this.watchers.get(service);
      if (!watchers) {
        watchers = new Set();
        this.watchers.set(service, watchers);
      }
      watchers.add(call);
      call.onCancel = () => {
        watchers.delete(call);
        if (watchers.size === 0) this.watchers.delete(service);
      };
      call.sendHeaders();
      call.sendMessage(
        this.methods.Watch.responseSerialize({ status: this.statuses.get(service) ?? "SERVICE_UNKNOWN" }),
      );
    });
  }

  private serviceOf(request: Buffer): string {
    try {
      return this.methods.Check.requestDeserialize(request).service ?? "";
    } catch {
      throw new GrpcError(Status.INTERNAL, "malformed HealthCheckRequest");
    }
  }
}
