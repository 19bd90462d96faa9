import { type Kysely, sql } from "kysely";

// Frozen. Plans (limits, a monthly quota in units, overage, alert thresholds), users on plans with a
// billing-cycle anchor, and units beside requests wherever usage is counted.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable("plans")
    .addColumn("id", "text", (c) => c.primaryKey())
    .addColumn("name", "text", (c) => c.notNull())
    .addColumn("rate_limit_per_minute", "integer")
    .addColumn("rate_limit_per_day", "integer")
    .addColumn("monthly_quota", "bigint")
    .addColumn("overage", "text", (c) => c.notNull().defaultTo("block"))
    .addColumn("alert_thresholds", sql`double precision[]`, (c) => c.notNull().defaultTo(sql`'{0.8,1}'`))
    .addColumn("created_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn("updated_at", "timestamptz", (c) => c.notNull().defaultTo(sql`now()`))
    .addCheckConstraint("plans_overage", sql`overage in ('block', 'bill')`)
    .addCheckConstraint("plans_rate_limit_per_minute_positive", sql`rate_limit_per_minute > 0`)
    .addCheckConstraint("plans_rate_limit_per_day_positive", sql`rate_limit_per_day > 0`)
    .addCheckConstraint("plans_monthly_quota_positive", sql`monthly_quota > 0`)
    .execute();

  await db.schema
    .alterTable("users")
    .addColumn("plan_id", "text", (c) => c.references("plans.id"))
    .addColumn("billing_cycle_anchor", "timestamptz")
    .execute();
  await db.schema.createIndex("users_plan_idx").on("users").column("plan_id").execute();

  // Units the check admitted (cost-weighted): what a lost quota counter is rebuilt from.
  await db.schema
    .alterTable("authz_counts")
    .addColumn("allowed_units", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update authz_counts set allowed_units = allowed`.execute(db);

  // Units the access log billed: what Stripe meter events carry.
  await db.schema
    .alterTable("usage_minutes")
    .addColumn("billable_units", "bigint", (c) => c.notNull().defaultTo(0))
    .execute();
  await sql`update usage_minutes set billable_units = billable_requests`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable("usage_minutes").dropColumn("billable_units").execute();
  await db.schema.alterTable("authz_counts").dropColumn("allowed_units").execute();
  await db.schema.dropIndex("users_plan_idx").execute();
  await db.schema.alterTable("users").dropColumn("billing_cycle_anchor").dropColumn("plan_id").execute();
  await db.schema.dropTable("plans").execute();
}
