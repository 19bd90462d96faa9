import type { Principal } from "../access/scopes.js";
import { AppError } from "../errors.js";

/**
 * The user a call may act on. A user-bound credential acts on its own user only: asking for another
 * answers 404, as if nothing else existed. Otherwise, what the caller asked for (maybe nothing).
 */
export function ownerFor(
  principal: Principal,
  requested: string | undefined,
  what: string,
): string | undefined {
  if (principal.userId === null) return requested;
  if (requested !== undefined && requested !== principal.userId) throw AppError.notFound(what);
  return principal.userId;
}
