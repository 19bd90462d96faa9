export interface CredentialHeaders {
  /** Carries `Bearer <key>`. */
  authorization: string;
  /** Carries the key alone. */
  apiKey: string;
}

/** A request's headers, as the transport that carried the request reads them. */
export interface RequestHeaders {
  /** A request header by lower-case name. */
  header(name: string): string | undefined;
}

export type Credential =
  | { kind: "none" }
  | { kind: "malformed"; detail: string }
  | { kind: "key"; key: string };

const BEARER = /^bearer(?:\s+(.*))?$/i;

/**
 * Finds the key in the request headers: `Authorization: Bearer <key>` first, then the API-key header.
 * Envoy lower-cases header names and merges repeated headers with ",", so two keys sent at once show up
 * as one value with a comma and fail the key format, as they should.
 */
export function findCredential(headers: RequestHeaders, names: CredentialHeaders): Credential {
  const authorization = headers.header(names.authorization);
  if (authorization !== undefined) {
    const match = BEARER.exec(authorization.trim());
    if (match) {
      const key = match[1]?.trim() ?? "";
      return key ? { kind: "key", key } : { kind: "malformed", detail: "the Bearer credential is empty" };
    }
  }
  const apiKey = headers.header(names.apiKey);
  if (apiKey !== undefined) {
    const key = apiKey.trim();
    return key ? { kind: "key", key } : { kind: "malformed", detail: `the ${names.apiKey} header is empty` };
  }
  return { kind: "none" };
}

/** `required_scopes` from the route's context extensions: separated by commas or spaces. */
export function parseScopes(text: string | undefined): string[] {
  if (!text) return [];
  return text.split(/[\s,]+/).filter(Boolean);
}

/**
 * `cost` from the route's context extensions: a whole number written in plain digits. Anything else
 * is NaN, which the check refuses as a misconfigured route rather than counting it as 1.
 */
export function parseCost(text: string): number {
  let cost = costs.get(text);
  if (cost === undefined) {
    cost = /^[0-9]{1,7}$/.test(text) ? Number(text) : Number.NaN;
    // Routes have a handful of costs: remembered, so a check on a costly route parses nothing.
    if (costs.size < 1_000) costs.set(text, cost);
  }
  return cost;
}

const costs = new Map<string, number>();
