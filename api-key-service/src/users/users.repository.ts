import type { Queryable, UserRow } from "@gateway/db";

/** Creates the user row the first time a user is seen; keys reference it. */
export async function ensureUser(db: Queryable, userId: string): Promise<void> {
  await db
    .insertInto("users")
    .values({ user_id: userId, stripe_customer_id: null })
    .onConflict((oc) => oc.column("user_id").doNothing())
    .execute();
}

export async function findUser(
  db: Queryable,
  userId: string,
  options: { forUpdate?: boolean } = {},
): Promise<UserRow | undefined> {
  let query = db.selectFrom("users").selectAll().where("user_id", "=", userId);
  if (options.forUpdate) query = query.forUpdate();
  return query.executeTakeFirst();
}

/** What a PUT may set on a user; absent fields are left as they are. */
export interface UserChanges {
  stripe_customer_id?: string | null;
  plan_id?: string | null;
  billing_cycle_anchor?: Date | null;
}

/** Sets the given fields, creating the user (the others null) the first time it is named. */
export async function upsertUser(
  db: Queryable,
  userId: string,
  changes: UserChanges,
  now: Date,
): Promise<UserRow> {
  const set = Object.fromEntries(Object.entries(changes).filter(([, v]) => v !== undefined)) as UserChanges;
  return db
    .insertInto("users")
    .values({ user_id: userId, stripe_customer_id: null, ...set, created_at: now, updated_at: now })
    .onConflict((oc) => oc.column("user_id").doUpdateSet({ ...set, updated_at: now }))
    .returningAll()
    .executeTakeFirstOrThrow();
}
