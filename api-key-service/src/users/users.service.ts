import type { Database, UserRow } from "@gateway/db";
import type { Kysely } from "kysely";
import { insertAuditEvent } from "../audit/audit.repository.js";
import { type ChangeListener, ignoreChanges } from "../keys/keys.service.js";
import type { RequestContext } from "../request-context.js";
import { findUser, upsertUserBilling } from "./users.repository.js";

export interface UserView {
  user_id: string;
  stripe_customer_id: string | null;
  created_at: string;
  updated_at: string;
}

const toUserView = (row: UserRow): UserView => ({
  user_id: row.user_id,
  stripe_customer_id: row.stripe_customer_id,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export class UserService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: ChangeListener = ignoreChanges,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Sets (or, with null, clears) the Stripe customer that this user's keys bill to. */
  async setBilling(userId: string, stripeCustomerId: string | null, ctx: RequestContext): Promise<UserView> {
    const row = await this.db.transaction().execute(async (trx) => {
      const before = await findUser(trx, userId);
      const updated = await upsertUserBilling(trx, userId, stripeCustomerId, this.now());
      await insertAuditEvent(trx, ctx, {
        action: "user.billing_updated",
        user_id: userId,
        changes: { stripe_customer_id: { from: before?.stripe_customer_id ?? null, to: stripeCustomerId } },
      });
      return updated;
    });
    this.changes.userChanged(userId);
    return toUserView(row);
  }
}
