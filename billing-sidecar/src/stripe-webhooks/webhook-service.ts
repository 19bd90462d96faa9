import type { Database } from "@gateway/db";
import type { Kysely } from "kysely";
import type { WebhookEvent } from "./event.js";
import type { KeyChangeNotifier } from "./key-changes.js";
import type { WebhookPolicy } from "./policy.js";
import {
  type AuditRecord,
  advanceCustomerMark,
  type BillingState,
  insertAuditEvents,
  lockCustomerUsers,
  recordEvent,
  setEventOutcome,
  updateBillingState,
} from "./suspension.repository.js";

/**
 * applied: the policy's action was taken (it may have changed no user); stale: a newer event for the
 * customer was applied first, so this one was recorded only; ignored: no action for the type, or no
 * customer named; duplicate: the event id was received before.
 */
export type WebhookOutcome = "applied" | "stale" | "ignored" | "duplicate";

export interface WebhookResult {
  outcome: WebhookOutcome;
  /** Users whose billing state changed. */
  usersChanged: string[];
}

export interface DeliveryContext {
  requestId: string;
  clientIp: string | null;
}

/** Applies Stripe events to users' suspension, once per event id and in the order Stripe created them. */
export class StripeWebhookService {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly policy: WebhookPolicy,
    private readonly keyChanges: KeyChangeNotifier,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** Whether the policy does anything with this type (anything else is answered 200 and forgotten). */
  handles(type: string): boolean {
    return this.policy.has(type);
  }

  async apply(event: WebhookEvent, ctx: DeliveryContext): Promise<WebhookResult> {
    const action = this.policy.get(event.type);
    if (!action) return { outcome: "ignored", usersChanged: [] };
    const result = await this.db.transaction().execute(async (trx): Promise<WebhookResult> => {
      const customer = event.customerId;
      if (!(await recordEvent(trx, event, customer ? "applied" : "ignored"))) {
        return { outcome: "duplicate", usersChanged: [] };
      }
      if (!customer) return { outcome: "ignored", usersChanged: [] };
      if (!(await advanceCustomerMark(trx, customer, event))) {
        await setEventOutcome(trx, event.id, "stale", 0);
        return { outcome: "stale", usersChanged: [] };
      }
      const now = this.now();
      const audit: AuditRecord[] = [];
      const changed: string[] = [];
      for (const before of await lockCustomerUsers(trx, customer)) {
        const after = nextState(before, action, event.type, now);
        const records = auditRecords(before, after, event.type);
        if (records.length === 0) continue;
        await updateBillingState(trx, after, now);
        audit.push(...records);
        changed.push(before.user_id);
      }
      const actor = { type: "stripe_webhook", event_id: event.id } as const;
      await insertAuditEvents(trx, actor, ctx.requestId, ctx.clientIp, audit);
      await setEventOutcome(trx, event.id, "applied", changed.length);
      return { outcome: "applied", usersChanged: changed };
    });
    // After commit: a replica told earlier could read the old state back into its cache.
    if (result.usersChanged.length > 0) await this.keyChanges.usersChanged(result.usersChanged);
    return result;
  }
}

function nextState(
  user: BillingState,
  action: "suspend" | "unsuspend" | "clear_customer",
  type: string,
  now: Date,
): BillingState {
  if (action === "unsuspend") return { ...user, suspended_at: null, suspended_reason: null };
  // A user already suspended keeps the time it started; the reason becomes the latest event's.
  const suspended = { ...user, suspended_at: user.suspended_at ?? now, suspended_reason: type };
  return action === "clear_customer" ? { ...suspended, stripe_customer_id: null } : suspended;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

function auditRecords(before: BillingState, after: BillingState, type: string): AuditRecord[] {
  const records: AuditRecord[] = [];
  const userId = before.user_id;
  if (before.stripe_customer_id !== after.stripe_customer_id) {
    records.push({
      action: "user.billing_updated",
      userId,
      changes: {
        stripe_customer_id: { from: before.stripe_customer_id, to: after.stripe_customer_id },
        stripe_event_type: type,
      },
    });
  }
  if (before.suspended_reason !== after.suspended_reason) {
    records.push({
      action: after.suspended_at ? "user.suspended" : "user.unsuspended",
      userId,
      changes: {
        suspended_at: { from: iso(before.suspended_at), to: iso(after.suspended_at) },
        suspended_reason: { from: before.suspended_reason, to: after.suspended_reason },
        stripe_event_type: type,
      },
    });
  }
  return records;
}
