import type { Actor } from "@gateway/db";

/**
 * What a management credential may do. `admin` is everything, managing management keys included;
 * the others follow `resource:read|write`, plus `keys:verify` for the verify API.
 */
export const SCOPES = [
  "keys:read",
  "keys:write",
  "users:read",
  "users:write",
  "usage:read",
  "audit:read",
  "plans:read",
  "plans:write",
  "webhooks:read",
  "webhooks:write",
  "keys:verify",
  "admin",
] as const;

export type Scope = (typeof SCOPES)[number];

/** Who is calling the management API, and what they may touch. */
export interface Principal {
  actor: Actor;
  scopes: ReadonlySet<Scope>;
  /** Set: only this user's keys, usage and audit events exist for the caller. */
  userId: string | null;
}

export const ADMIN_TOKEN_PRINCIPAL: Principal = {
  actor: { type: "admin_token" },
  scopes: new Set<Scope>(["admin"]),
  userId: null,
};

export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.has("admin") || principal.scopes.has(scope);
}

/** The id `GET /api/audit?actor_id=` filters on: a management key's id, else the actor's type. */
export function actorId(actor: Actor): string {
  switch (actor.type) {
    case "management_key":
      return actor.id;
    case "admin_token":
    case "stripe_webhook":
      return actor.type;
  }
}
