import type { Database, Overage } from "@gateway/db";
import type { Kysely } from "kysely";
import { insertAuditEvent } from "../audit/audit.repository.js";
import { AppError } from "../errors.js";
import { decodeCursor, type Page, toPage } from "../pagination.js";
import type { RequestContext } from "../request-context.js";
import { type PlanView, toPlanView } from "./plan-view.js";
import {
  deletePlan,
  findPlan,
  insertPlan,
  listPlans,
  type PlanUpdate,
  planInUse,
  updatePlan,
} from "./plans.repository.js";

export interface PlanSettings {
  rate_limit_per_minute?: number | null;
  rate_limit_per_day?: number | null;
  monthly_quota?: number | null;
  overage?: Overage;
  /** Deduplicated and sorted by the caller's schema. */
  alert_thresholds?: number[];
}

export interface CreatePlanInput extends PlanSettings {
  id: string;
  name: string;
}

export interface UpdatePlanInput extends PlanSettings {
  name?: string;
}

/** Told after a change commits, so every replica drops the cached keys of the plan's users. */
export interface PlanListener {
  planChanged(planId: string): void;
}

export const ignorePlanChanges: PlanListener = { planChanged: () => {} };

export const PLAN_ID = /^[a-z0-9_-]{1,64}$/;
const DEFAULT_THRESHOLDS = [0.8, 1];

const EDITABLE = [
  "name",
  "rate_limit_per_minute",
  "rate_limit_per_day",
  "monthly_quota",
  "overage",
  "alert_thresholds",
] as const;

type Editable = (typeof EDITABLE)[number];

export class PlanService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly changes: PlanListener = ignorePlanChanges,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** A new plan has no users, so no cached key can hold it: nothing to invalidate. */
  async create(input: CreatePlanInput, ctx: RequestContext): Promise<PlanView> {
    const now = this.now();
    const row = await this.db.transaction().execute(async (trx) => {
      const inserted = await insertPlan(trx, {
        id: input.id,
        name: input.name,
        rate_limit_per_minute: input.rate_limit_per_minute ?? null,
        rate_limit_per_day: input.rate_limit_per_day ?? null,
        monthly_quota: input.monthly_quota ?? null,
        overage: input.overage ?? "block",
        alert_thresholds: input.alert_thresholds ?? DEFAULT_THRESHOLDS,
        created_at: now,
        updated_at: now,
      });
      if (!inserted) throw new AppError("CONFLICT", `a plan with the id ${input.id} exists`);
      const { id, created_at, updated_at, ...settings } = toPlanView(inserted);
      await insertAuditEvent(trx, ctx, { action: "plan.created", changes: { plan_id: id, ...settings } });
      return inserted;
    });
    return toPlanView(row);
  }

  async list(limit: number, cursor?: string): Promise<Page<PlanView>> {
    const after = cursor ? parsePlanCursor(cursor) : undefined;
    const rows = await listPlans(this.db, limit + 1, after);
    return toPage(rows, limit, toPlanView, (row) => ({ id: row.id }));
  }

  async get(id: string): Promise<PlanView> {
    const row = await findPlan(this.db, id);
    if (!row) throw AppError.notFound("plan");
    return toPlanView(row);
  }

  /** Records and announces only what differs; a change to nothing answers the plan as it is. */
  async update(id: string, input: UpdatePlanInput, ctx: RequestContext): Promise<PlanView> {
    const now = this.now();
    const { row, changed } = await this.db.transaction().execute(async (trx) => {
      const current = await findPlan(trx, id, { lock: "update" });
      if (!current) throw AppError.notFound("plan");
      const before = toPlanView(current);
      const changes: Partial<Record<Editable, { from: unknown; to: unknown }>> = {};
      for (const field of EDITABLE) {
        const wanted = input[field];
        if (wanted === undefined || JSON.stringify(before[field]) === JSON.stringify(wanted)) continue;
        changes[field] = { from: before[field], to: wanted };
      }
      if (Object.keys(changes).length === 0) return { row: current, changed: false };
      const set: PlanUpdate = { updated_at: now };
      for (const [field, change] of Object.entries(changes)) {
        (set as Record<string, unknown>)[field] = change.to;
      }
      const updated = await updatePlan(trx, id, set);
      await insertAuditEvent(trx, ctx, { action: "plan.updated", changes: { plan_id: id, ...changes } });
      return { row: updated, changed: true };
    });
    if (changed) this.changes.planChanged(id);
    return toPlanView(row);
  }

  /** Refused while any user is on the plan: move them first, so no key loses its limits unawares. */
  async delete(id: string, ctx: RequestContext): Promise<PlanView> {
    const row = await this.db.transaction().execute(async (trx) => {
      // Locked first: a user being put on the plan meanwhile either commits before (and is seen
      // below) or waits and then finds no plan.
      const current = await findPlan(trx, id, { lock: "update" });
      if (!current) throw AppError.notFound("plan");
      if (await planInUse(trx, id)) {
        throw new AppError("CONFLICT", `users are on the plan ${id}; move them to another plan first`);
      }
      await deletePlan(trx, id);
      const { id: planId, created_at, updated_at, ...settings } = toPlanView(current);
      await insertAuditEvent(trx, ctx, { action: "plan.deleted", changes: { plan_id: planId, ...settings } });
      return current;
    });
    this.changes.planChanged(id);
    return toPlanView(row);
  }
}

/** A forged cursor is refused before it reaches Postgres. */
function parsePlanCursor(cursor: string): string {
  const { id } = decodeCursor(cursor, ["id"] as const);
  if (!PLAN_ID.test(id)) throw AppError.invalid("cursor", "is not a cursor this API returned");
  return id;
}
