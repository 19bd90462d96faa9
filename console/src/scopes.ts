import { ApiError, call } from "./api.js";

// The management API has no "who am I" route, and the console adds nothing to the server: what a
// credential may do is read from the API itself. Every route checks its scope before it reads its
// input, so each probe below is a request that changes nothing: a read of one item, or a write whose
// body is empty and therefore invalid. 403 means the scope is missing; 400 or 200 means it is held.

export type Scope =
  | "keys:read"
  | "keys:write"
  | "users:read"
  | "users:write"
  | "usage:read"
  | "audit:read"
  | "plans:read"
  | "plans:write"
  | "webhooks:read"
  | "webhooks:write"
  | "admin";

const PROBES: Record<Scope, { method: string; path: string; body?: unknown }> = {
  "keys:read": { method: "GET", path: "/api/keys?limit=1" },
  "keys:write": { method: "POST", path: "/api/keys", body: {} },
  "users:read": { method: "GET", path: "/api/users?limit=1" },
  "users:write": { method: "PUT", path: "/api/users/scope-probe", body: {} },
  "usage:read": { method: "GET", path: "/api/usage" },
  "audit:read": { method: "GET", path: "/api/audit?limit=1" },
  "plans:read": { method: "GET", path: "/api/plans?limit=1" },
  "plans:write": { method: "POST", path: "/api/plans", body: {} },
  "webhooks:read": { method: "GET", path: "/api/webhooks?limit=1" },
  "webhooks:write": { method: "POST", path: "/api/webhooks", body: {} },
  admin: { method: "GET", path: "/api/management-keys?limit=1" },
};

/** The scopes `token` holds; rejects with the API's 401 (or 429) when it is not a valid credential. */
export async function probeScopes(token: string): Promise<Set<Scope>> {
  const entries = Object.entries(PROBES) as [Scope, (typeof PROBES)[Scope]][];
  const probe = async ([scope, { method, path, body }]: (typeof entries)[number]) => {
    try {
      await call(method, path, { token, body });
      return [scope, true] as const;
    } catch (error) {
      // 400: the empty body was refused after the scope was granted; 404: a user-bound credential.
      if (error instanceof ApiError && (error.status === 400 || error.status === 404)) {
        return [scope, true] as const;
      }
      if (error instanceof ApiError && error.status === 403) return [scope, false] as const;
      throw error;
    }
  };
  // One request first: a wrong credential is refused once, not once per scope (failures are rate limited).
  const [first, ...rest] = entries;
  const outcomes = [await probe(first as (typeof entries)[number]), ...(await Promise.all(rest.map(probe)))];
  const held = new Set(outcomes.filter(([, ok]) => ok).map(([scope]) => scope));
  if (held.has("admin")) return new Set(Object.keys(PROBES) as Scope[]);
  return held;
}
