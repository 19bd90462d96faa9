import type { Queryable, UserRow } from "@gateway/db";

/** Creates the user row the first time a user is seen; keys reference it. */
export async function ensureUser(db: Queryable, userId: string): Promise<void> {
  await db
    .insertInto("users")
    .values({ user_id: userId, stripe_customer_id: null })
    .onConflict((oc) => oc.column("user_id").doNothing())
    .execute();
}

export async function findUser(db: Queryable, userId: string): Promise<UserRow | undefined> {
  return db.selectFrom("users").selectAll().where("user_id", "=", userId).executeTakeFirst();
}

export async function upsertUserBilling(
  db: Queryable,
  userId: string,
  stripeCustomerId: string | null,
  now: Date,
): Promise<UserRow> {
  return db
    .insertInto("users")
    .values({ user_id: userId, stripe_customer_id: stripeCustomerId, created_at: now, updated_at: now })
    .onConflict((oc) =>
      oc.column("user_id").doUpdateSet({ stripe_customer_id: stripeCustomerId, updated_at: now }),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}
