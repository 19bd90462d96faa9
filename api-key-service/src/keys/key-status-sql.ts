import type { Database } from "@gateway/db";
import type { Expression, ExpressionBuilder, SqlBool } from "kysely";
import type { KeyStatus } from "./key-view.js";

type KeysEb = ExpressionBuilder<Database, "api_keys">;

export const KEY_STATUSES = [
  "active",
  "disabled",
  "expired",
  "revoked",
] as const satisfies readonly KeyStatus[];

const notRevoked = (eb: KeysEb) => eb("revoked_at", "is", null);
const notExpired = (eb: KeysEb, now: Date) =>
  eb.or([eb("expires_at", "is", null), eb("expires_at", ">", now)]);

/**
 * keyStatus() of key-view.ts as SQL, evaluated at `now`: revoked wins over expired, expired over
 * disabled. A record, so a new status does not compile until it has a predicate here.
 */
const PREDICATES: Record<KeyStatus, (eb: KeysEb, now: Date) => Expression<SqlBool>> = {
  revoked: (eb) => eb("revoked_at", "is not", null),
  expired: (eb, now) => eb.and([notRevoked(eb), eb("expires_at", "<=", now)]),
  // `not enabled` / `enabled` rather than `= $n`, so the planner matches the partial index on `not enabled`.
  disabled: (eb, now) => eb.and([notRevoked(eb), notExpired(eb, now), eb.not(eb.ref("enabled"))]),
  active: (eb, now) => eb.and([notRevoked(eb), notExpired(eb, now), eb.ref("enabled")]),
};

export function keyStatusIs(eb: KeysEb, status: KeyStatus, now: Date): Expression<SqlBool> {
  return PREDICATES[status](eb, now);
}
