import type { TestServices } from "@gateway/testing";
import { type RunningApi, startApi } from "../../../api-key-service/test/fixtures.js";
import { createBackend } from "../../../backend-service/src/main.js";
import type { Sidecar } from "../../../billing-sidecar/src/main.js";
import { startChecksSidecar } from "./billing.js";
import { type GatewayKind, type RunningGateway, startGateway } from "./gateway.js";

/** As deployed: the forward-auth endpoint answers only requests that carry it, which the gateway sends. */
export const INTERNAL_TOKEN = "gateways-test-internal-token-0123456789abcdef";

export interface GatewayStack {
  api: RunningApi;
  gateway: RunningGateway;
  /** The paths of the requests that reached the backend (health probes left out), in order. */
  backendPaths(): string[];
  /** The billing sidecar, when the stack was started with `billing`. */
  sidecar?: Sidecar;
  /** A request through the gateway. */
  send(path: string, init?: RequestInit): Promise<Response>;
}

export interface StackOptions {
  /** api-key-service's settings beside the defaults. */
  apiEnv?: Record<string, string>;
  /** Also billing-sidecar, billing from the checks (BILLING_SOURCE=checks). */
  billing?: boolean;
  /** false: the gateway is started without INTERNAL_TOKEN, which the endpoint still requires. */
  gatewayToken?: boolean;
}

/**
 * api-key-service (its forward-auth endpoint requiring INTERNAL_TOKEN), backend-service and a real
 * nginx or Caddy on its shipped configuration in front of them, for the length of `body`.
 */
export async function withGatewayStack(
  services: TestServices,
  kind: GatewayKind,
  body: (stack: GatewayStack) => Promise<void>,
  options: StackOptions = {},
): Promise<void> {
  const api = await startApi(services, { INTERNAL_TOKEN, ...options.apiEnv });
  const paths: string[] = [];
  const backend = createBackend(
    { PORT: 0, HOST: "127.0.0.1" },
    {
      log: (line) => {
        if (line.msg === "request" && line.path !== "/health") paths.push(String(line.path));
      },
    },
  );
  let gateway: RunningGateway | undefined;
  let sidecar: Sidecar | undefined;
  try {
    if (options.billing) sidecar = await startChecksSidecar(services);
    const { port } = await backend.start();
    gateway = await startGateway(kind, {
      forwardAuthAddr: new URL(api.forwardAuthUrl).host,
      backendAddr: `127.0.0.1:${port}`,
      ...(options.gatewayToken === false ? {} : { internalToken: INTERNAL_TOKEN }),
    });
    const url = gateway.url;
    await body({
      api,
      gateway,
      backendPaths: () => [...paths],
      ...(sidecar ? { sidecar } : {}),
      send: (path, init) => fetch(url + path, init),
    });
  } finally {
    await gateway?.stop();
    await sidecar?.stop();
    await backend.stop();
    await api.stop();
  }
}
