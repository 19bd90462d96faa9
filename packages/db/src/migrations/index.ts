import type { Migration } from "kysely";
import * as keysUsersAudit from "./20261121T000000_keys_users_audit.js";
import * as authzCounts from "./20261122T000000_authz_counts.js";
import * as usageAndStripeOutbox from "./20261122T010000_usage_and_stripe_outbox.js";
import * as usageMinutesMinuteIdx from "./20261122T020000_usage_minutes_minute_idx.js";
import * as managementAccess from "./20261206T000000_management_access.js";
import * as searchIndexes from "./20261206T010000_search_indexes.js";
import * as plansAndUnits from "./20261206T020000_plans_and_units.js";
import * as webhooks from "./20261206T030000_webhooks.js";
import * as unbilledUsage from "./20261206T040000_unbilled_usage.js";
import * as suspension from "./20261206T050000_suspension.js";
import * as checksSource from "./20261206T060000_checks_source.js";

// Listed by hand rather than read from disk, so the same list works from source and from a build.
export const migrations: Record<string, Migration> = {
  "20261121T000000_keys_users_audit": keysUsersAudit,
  "20261122T000000_authz_counts": authzCounts,
  "20261122T010000_usage_and_stripe_outbox": usageAndStripeOutbox,
  "20261122T020000_usage_minutes_minute_idx": usageMinutesMinuteIdx,
  "20261206T000000_management_access": managementAccess,
  "20261206T010000_search_indexes": searchIndexes,
  "20261206T020000_plans_and_units": plansAndUnits,
  "20261206T030000_webhooks": webhooks,
  "20261206T040000_unbilled_usage": unbilledUsage,
  "20261206T050000_suspension": suspension,
  "20261206T060000_checks_source": checksSource,
};
