import type { Migration } from "kysely";
import * as keysUsersAudit from "./20261121T000000_keys_users_audit.js";

// Listed by hand rather than read from disk, so the same list works from source and from a build.
export const migrations: Record<string, Migration> = {
  "20261121T000000_keys_users_audit": keysUsersAudit,
};
