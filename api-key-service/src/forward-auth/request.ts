import type { IncomingMessage } from "node:http";
import type { CheckInput } from "../authz/check-key.js";
import { parseCost, parseScopes } from "../authz/credentials.js";

/** The endpoint's path; any path below it is answered too (Envoy's HTTP ext_authz appends the original path). */
export const FORWARD_AUTH_PATH = "/v1/forward-auth";

/** Headers the gateway's configuration sets per route: the scopes it requires and the units it costs. */
export const REQUIRED_SCOPES_HEADER = "x-required-scopes";
export const REQUEST_COST_HEADER = "x-request-cost";

/** `/v1/forward-auth`, `/v1/forward-auth/…` or `/v1/forward-auth?…`; not `/v1/forward-authx`. */
export function isForwardAuthPath(url: string | undefined): boolean {
  if (!url?.startsWith(FORWARD_AUTH_PATH)) return false;
  const next = url.charCodeAt(FORWARD_AUTH_PATH.length);
  return Number.isNaN(next) || next === 0x2f /* / */ || next === 0x3f /* ? */;
}

/** A request header by lower-case name. */
export type HeaderReader = (name: string) => string | undefined;

/**
 * Reads the request's headers as Envoy hands them to Check: repeats merged with ",". Node's own
 * `headers` keeps only the first Authorization, which would let a second key ride along unseen; merged,
 * two keys fail the key format, on this endpoint as on the gRPC one.
 */
export function headerReader(request: IncomingMessage): HeaderReader {
  const headers = request.headersDistinct;
  return (name) => {
    const values = headers[name];
    if (values === undefined) return undefined;
    return values.length === 1 ? values[0] : values.join(",");
  };
}

/** What the KeyChecker is asked: the credential headers, and the route's scopes and cost as the gateway set them. */
export function toCheckInput(header: HeaderReader): CheckInput {
  const input: CheckInput = { header, requiredScopes: parseScopes(header(REQUIRED_SCOPES_HEADER)) };
  const cost = header(REQUEST_COST_HEADER);
  // As the gRPC path's context_extensions.cost: set by the gateway's configuration, so a value that is
  // not a whole number 1–1,000,000 is a misconfigured route (500), never counted as 1.
  if (cost !== undefined) input.cost = parseCost(cost);
  return input;
}

/** The request the gateway is asking about: for the log, never for the decision. */
export interface OriginalRequest {
  method: string | undefined;
  /** The path without its query (which may carry anything), or undefined when the gateway did not say. */
  path: string | undefined;
}

/**
 * `X-Forwarded-Method`/`X-Forwarded-Uri` (Caddy, Traefik), else `X-Original-Method`/`X-Original-URI`
 * (the usual nginx configuration), else the request line itself (Envoy's HTTP ext_authz sends the
 * original method, and the original path after its path_prefix).
 */
export function originalRequest(request: IncomingMessage, header: HeaderReader): OriginalRequest {
  let uri = header("x-forwarded-uri") ?? header("x-original-uri");
  if (uri === undefined) {
    const rest = (request.url ?? "").slice(FORWARD_AUTH_PATH.length);
    if (rest.startsWith("/")) uri = rest;
  }
  return {
    method: header("x-forwarded-method") ?? header("x-original-method") ?? request.method,
    path: uri === undefined ? undefined : withoutQuery(uri),
  };
}

/** At most 512 characters of the path: a log line stays small whatever a client sends. */
function withoutQuery(uri: string): string {
  const at = uri.indexOf("?");
  return (at === -1 ? uri : uri.slice(0, at)).slice(0, 512);
}
