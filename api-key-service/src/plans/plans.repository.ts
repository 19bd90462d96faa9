import type { NewPlan, PlanRow, PlansTable, Queryable } from "@gateway/db";
import type { Updateable } from "kysely";

export type PlanUpdate = Updateable<PlansTable>;

/** Inserts a plan; undefined when a plan already has this id. */
export async function insertPlan(db: Queryable, plan: NewPlan): Promise<PlanRow | undefined> {
  return db
    .insertInto("plans")
    .values(plan)
    .onConflict((oc) => oc.column("id").doNothing())
    .returningAll()
    .executeTakeFirst();
}

/**
 * `lock: "update"` for a change to the plan; `lock: "key share"` to put a user on it, which a
 * concurrent delete (holding "update") waits for, and which waits for that delete in turn.
 */
export async function findPlan(
  db: Queryable,
  id: string,
  options: { lock?: "update" | "key share" } = {},
): Promise<PlanRow | undefined> {
  let query = db.selectFrom("plans").selectAll().where("id", "=", id);
  if (options.lock === "update") query = query.forUpdate();
  if (options.lock === "key share") query = query.forKeyShare();
  return query.executeTakeFirst();
}

/** Plans by id ascending; `afterId` is the last id of the previous page. */
export async function listPlans(db: Queryable, limit: number, afterId?: string): Promise<PlanRow[]> {
  let query = db.selectFrom("plans").selectAll().orderBy("id").limit(limit);
  if (afterId !== undefined) query = query.where("id", ">", afterId);
  return query.execute();
}

export async function updatePlan(db: Queryable, id: string, changes: PlanUpdate): Promise<PlanRow> {
  return db.updateTable("plans").set(changes).where("id", "=", id).returningAll().executeTakeFirstOrThrow();
}

export async function deletePlan(db: Queryable, id: string): Promise<void> {
  await db.deleteFrom("plans").where("id", "=", id).execute();
}

/** Whether any user is on the plan (users_plan_idx answers it). */
export async function planInUse(db: Queryable, id: string): Promise<boolean> {
  const row = await db
    .selectFrom("users")
    .select("user_id")
    .where("plan_id", "=", id)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}
