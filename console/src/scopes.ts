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
  | "admin"
  // Not an API scope: users:write held by a credential not bound to one user, which may also change a
  // user's plan (a user-bound one may set only the Stripe customer).
  | "users:plan";

/** A user id no one is likely to have: a user-bound credential answers 404 for it, others an empty read. */
const STRANGER = "scope-probe.unbound";

const PROBES: Record<Exclude<Scope, "users:plan">, { method: string; path: string; body?: unknown }> = {
  "keys:read": { method: "GET", path: `/api/keys?limit=1&user_id=${STRANGER}` },
  "keys:write": { method: "POST", path: "/api/keys", body: {} },
  "users:read": { method: "GET", path: "/api/users?limit=1" },
  "users:write": { method: "PUT", path: "/api/users/scope-probe", body: {} },
  "usage:read": { method: "GET", path: `/api/usage?user_id=${STRANGER}` },
  "audit:read": { method: "GET", path: `/api/audit?limit=1&user_id=${STRANGER}` },
  "plans:read": { method: "GET", path: "/api/plans?limit=1" },
  "plans:write": { method: "POST", path: "/api/plans", body: {} },
  "webhooks:read": { method: "GET", path: "/api/webhooks?limit=1" },
  "webhooks:write": { method: "POST", path: "/api/webhooks", body: {} },
  admin: { method: "GET", path: "/api/management-keys?limit=1" },
};

/** The scopes `token` holds; rejects with the API's 401 (or 429) when it is not a valid credential. */
export async function probeScopes(token: string): Promise<Set<Scope>> {
  const entries = Object.entries(PROBES) as [Scope, (typeof PROBES)["admin"]][];
  let bound = false;
  const probe = async ([scope, { method, path, body }]: (typeof entries)[number]) => {
    try {
      await call(method, path, { token, body });
      return [scope, true] as const;
    } catch (error) {
      // 400: the empty body was refused after the scope was granted.
      if (error instanceof ApiError && error.status === 400) return [scope, true] as const;
      // 404: the scope was granted, and the credential acts for one user only (not the stranger).
      if (error instanceof ApiError && error.status === 404) {
        bound = true;
        return [scope, true] as const;
      }
      if (error instanceof ApiError && error.status === 403) return [scope, false] as const;
      throw error;
    }
  };
  // One request first: a wrong credential is refused once, not once per scope (failures are rate limited).
  const [first, ...rest] = entries;
  const outcomes = [await probe(first as (typeof entries)[number]), ...(await Promise.all(rest.map(probe)))];
  const held = new Set<Scope>(outcomes.filter(([, ok]) => ok).map(([scope]) => scope));
  if (held.has("admin")) return new Set([...(Object.keys(PROBES) as Scope[]), "users:plan"]);
  if (bound) {
    // Plans are shared by every user: the API refuses their changes to a user-bound credential.
    held.delete("plans:write");
  } else if (held.has("users:write")) {
    held.add("users:plan");
  }
  return held;
}
