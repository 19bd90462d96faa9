import { bearer, envoyCheckRequest, headerMap, metadataOf } from "./envoy.js";
import type { Api } from "./fixtures.js";
import { bearerHeader, forwardAuth } from "./forward-auth-client.js";

/** Envoy's HTTP status names in a CheckResponse's denied_response, as numbers. */
export const HTTP_STATUS_NAME: Record<string, number> = {
  Unauthorized: 401,
  PaymentRequired: 402,
  Forbidden: 403,
  TooManyRequests: 429,
  InternalServerError: 500,
  ServiceUnavailable: 503,
};

/** A decision as the gateway in front receives it, whichever way it was asked for. */
export interface Asked {
  /** "allowed", or the denial's code ("rate_limited", "unavailable", …). */
  outcome: string;
  /** The HTTP status the client gets: 200 when allowed. */
  status: number;
  /** Headers the gateway sends the client with a denial (Retry-After, Content-Type, …). */
  headers: Record<string, string | undefined>;
  /** From sending the question to the whole answer. */
  ms: number;
}

/** One way a gateway asks for a decision, with the service settings it needs. */
export interface Transport {
  name: string;
  env: Record<string, string>;
  /** Well inside the gateway's own timeout for the call: Envoy's ext_authz default is 200 ms. */
  promptMs: number;
  ask(api: Api, secret: string): Promise<Asked>;
}

/** Envoy's gRPC Check on `grpcServer`, the client waiting longer than Envoy would so a slow answer shows in `ms`. */
const grpcCheck = (grpcServer: "h2" | "grpc-js"): Transport => ({
  name: `gRPC Check (GRPC_SERVER=${grpcServer})`,
  env: { GRPC_SERVER: grpcServer },
  promptMs: 200,
  async ask(api, secret) {
    const started = performance.now();
    const response = await api.check(envoyCheckRequest({ headers: bearer(secret) }), 1_000);
    const ms = performance.now() - started;
    if (response.status?.code === 0) return { outcome: "allowed", status: 200, headers: {}, ms };
    const denied = response.denied_response;
    return {
      outcome: metadataOf(response).denied_reason ?? "(none)",
      status: HTTP_STATUS_NAME[String(denied?.status?.code)] ?? 0,
      headers: headerMap(denied?.headers),
      ms,
    };
  },
});

/** The forward-auth endpoint, as nginx, Caddy or Traefik ask it. */
const forwardAuthCheck: Transport = {
  name: "forward-auth",
  env: {},
  // nginx's, Caddy's and Traefik's auth calls wait far longer; a loaded test machine gets some room.
  promptMs: 500,
  async ask(api, secret) {
    const started = performance.now();
    const answer = await forwardAuth(api.forwardAuthUrl, { headers: [bearerHeader(secret)] });
    const ms = performance.now() - started;
    return {
      outcome: answer.body?.error?.code ?? "allowed",
      status: answer.status,
      headers: answer.headers,
      ms,
    };
  },
};

/** Every way a decision is asked for: the fault tests run through each. */
export const TRANSPORTS: Transport[] = [grpcCheck("h2"), grpcCheck("grpc-js"), forwardAuthCheck];
