import { createHash, timingSafeEqual } from "node:crypto";
import { Counter, type Registry } from "prom-client";
import { z } from "zod";
import type { Logger } from "./logger.js";

/** The metadata Envoy sends the internal token in (grpc_service.initial_metadata in envoy.yaml). */
export const INTERNAL_TOKEN_HEADER = "x-gateway-token";

/** A refused call's grpc-message: names the header, not whether one was sent or how it differed. */
export const UNAUTHENTICATED_MESSAGE = "this port serves the gateway only: send its x-gateway-token";

/** The counter both services count refusals in (InternalTokenCheckOptions.onRefused), by gRPC service. */
export function unauthenticatedCounter(registry: Registry): Counter<"service"> {
  return new Counter({
    name: "grpc_unauthenticated_total",
    help: "gRPC calls refused for a missing or wrong x-gateway-token (INTERNAL_TOKEN), by gRPC service",
    labelNames: ["service"],
    registers: [registry],
  });
}

/**
 * Letters, digits and `. _ ~ + / = -` (hex, base64 and base64url all fit): the token is rendered into
 * envoy.yaml and sent as a header value, where quotes, spaces or `#` would need escaping.
 */
const TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]+$/;

/** INTERNAL_TOKEN in both services' config: optional, with no default; 32 to 1024 characters. */
export const internalToken = () =>
  z
    .string()
    .min(32, "must be at least 32 characters (generate one with: openssl rand -hex 32)")
    .max(1024, "must be at most 1024 characters")
    .regex(TOKEN_PATTERN, "may only hold letters, digits and . _ ~ + / = -")
    .optional();

/**
 * Health checks stay open: Kubernetes' gRPC probes cannot send metadata, and a health answer says
 * only SERVING or NOT_SERVING.
 */
const OPEN_PREFIX = "/grpc.health.v1.Health/";

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

export interface InternalTokenCheckOptions {
  /** INTERNAL_TOKEN; without one every call is let through, as a deployment without it expects. */
  token: string | undefined;
  /** A call was refused; `service` is the gRPC service its path names (only routed paths get here). */
  onRefused?: (service: string) => void;
  /** Refusals are logged at most once a second, with how many there were: a flood stays one line. */
  logger?: Logger;
}

/**
 * Decides whether a call to a data-plane port (ext_authz, access log) came from the gateway: one
 * `x-gateway-token` value equal to the token. Both sides are hashed to equal length first, so the
 * comparison takes the same time however much of a guess matches. Used by both gRPC servers, each
 * handing over the values its transport decoded.
 */
export class InternalTokenCheck {
  private readonly expected: Buffer | undefined;
  private refusedSinceLog = 0;
  private lastLogAt = 0;

  constructor(private readonly options: InternalTokenCheckOptions) {
    this.expected = options.token === undefined ? undefined : digest(options.token);
  }

  get enabled(): boolean {
    return this.expected !== undefined;
  }

  /** `values`: every value of x-gateway-token the call carried. More than one is refused: Envoy sends one. */
  allows(path: string, values: readonly unknown[]): boolean {
    if (this.expected === undefined || path.startsWith(OPEN_PREFIX)) return true;
    const [value] = values;
    if (values.length === 1 && typeof value === "string" && timingSafeEqual(digest(value), this.expected))
      return true;
    this.refused(serviceOf(path));
    return false;
  }

  /** The same decision from raw HTTP/2 request headers (name, value pairs). */
  allowsHeaders(path: string, headers: Iterable<readonly [string, string]>): boolean {
    if (this.expected === undefined) return true;
    const values: string[] = [];
    for (const [name, value] of headers) if (name === INTERNAL_TOKEN_HEADER) values.push(value);
    return this.allows(path, values);
  }

  private refused(service: string): void {
    this.options.onRefused?.(service);
    this.refusedSinceLog += 1;
    const now = Date.now();
    if (!this.options.logger || now - this.lastLogAt < 1_000) return;
    this.options.logger.warn(
      { grpc_service: service, refused: this.refusedSinceLog },
      "gRPC calls without a valid x-gateway-token refused",
    );
    this.lastLogAt = now;
    this.refusedSinceLog = 0;
  }
}

/** `/envoy.service.auth.v3.Authorization/Check` → `envoy.service.auth.v3.Authorization`. */
function serviceOf(path: string): string {
  const end = path.lastIndexOf("/");
  return end > 0 ? path.slice(1, end) : path;
}
