import type { Database, UserRow } from "@gateway/db";
import type { Kysely } from "kysely";
import { insertAuditEvent } from "../audit/audit.repository.js";
import { type CustomerDirectory, formatOnly, requireLiveCustomer } from "../billing/customer-directory.js";
import { AppError } from "../errors.js";
import { type ChangeListener, ignoreChanges } from "../keys/keys.service.js";
import { findPlan } from "../plans/plans.repository.js";
import type { RequestContext } from "../request-context.js";
import { findUser, type UserChanges, upsertUser } from "./users.repository.js";

export interface UserView {
  user_id: string;
  stripe_customer_id: string | null;
  plan_id: string | null;
  billing_cycle_anchor: string | null;
  suspended_at: string | null;
  suspended_reason: string | null;
  created_at: string;
  updated_at: string;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

const toUserView = (row: UserRow): UserView => ({
  user_id: row.user_id,
  stripe_customer_id: row.stripe_customer_id,
  plan_id: row.plan_id,
  billing_cycle_anchor: iso(row.billing_cycle_anchor),
  suspended_at: iso(row.suspended_at),
  suspended_reason: row.suspended_reason,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export class UserService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: ChangeListener = ignoreChanges,
    private readonly customers: CustomerDirectory = formatOnly,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * Sets the given fields of a user (creating the user the first time): the Stripe customer its keys
   * bill to, its plan, its billing-cycle anchor. Null clears a field; an absent one is left alone.
   * A new Stripe customer must exist in Stripe; it is asked before the transaction, which never
   * waits on Stripe.
   */
  async update(userId: string, input: UserChanges, ctx: RequestContext): Promise<UserView> {
    const customer = input.stripe_customer_id;
    if (customer && (await findUser(this.db, userId))?.stripe_customer_id !== customer) {
      await requireLiveCustomer(this.customers, customer);
    }
    const row = await this.db.transaction().execute(async (trx) => {
      if (input.plan_id) {
        // Key share: a concurrent delete of the plan waits for this commit, or this waits for it.
        const plan = await findPlan(trx, input.plan_id, { lock: "key share" });
        if (!plan) throw AppError.invalid("plan_id", "names no plan");
      }
      const before = await findUser(trx, userId, { forUpdate: true });
      const updated = await upsertUser(trx, userId, input, this.now());
      if (input.stripe_customer_id !== undefined) {
        await insertAuditEvent(trx, ctx, {
          action: "user.billing_updated",
          user_id: userId,
          changes: {
            stripe_customer_id: { from: before?.stripe_customer_id ?? null, to: input.stripe_customer_id },
          },
        });
      }
      const planChanges = changedPlanFields(before, updated);
      if (Object.keys(planChanges).length > 0) {
        await insertAuditEvent(trx, ctx, {
          action: "user.plan_updated",
          user_id: userId,
          changes: planChanges,
        });
      }
      return updated;
    });
    this.changes.userChanged(userId);
    return toUserView(row);
  }
}

/** The plan and anchor as they were and are, for the fields that differ. */
function changedPlanFields(before: UserRow | undefined, after: UserRow) {
  const changes: Record<string, { from: string | null; to: string | null }> = {};
  const planBefore = before?.plan_id ?? null;
  if (planBefore !== after.plan_id) changes.plan_id = { from: planBefore, to: after.plan_id };
  const anchorBefore = iso(before?.billing_cycle_anchor);
  const anchorAfter = iso(after.billing_cycle_anchor);
  if (anchorBefore !== anchorAfter) changes.billing_cycle_anchor = { from: anchorBefore, to: anchorAfter };
  return changes;
}
