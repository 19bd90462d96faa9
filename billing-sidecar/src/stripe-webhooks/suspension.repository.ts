import type { Actor, Queryable, StripeWebhookOutcome } from "@gateway/db";

export interface ReceivedEvent {
  id: string;
  type: string;
  created: Date;
  customerId: string | null;
}

/** Records the event once; false when its id was recorded before (a redelivery). */
export async function recordEvent(
  db: Queryable,
  event: ReceivedEvent,
  outcome: StripeWebhookOutcome,
): Promise<boolean> {
  const row = await db
    .insertInto("stripe_webhook_events")
    .values({
      id: event.id,
      type: event.type,
      created: event.created,
      stripe_customer_id: event.customerId,
      outcome,
    })
    .onConflict((oc) => oc.column("id").doNothing())
    .returning("id")
    .executeTakeFirst();
  return row !== undefined;
}

export async function setEventOutcome(
  db: Queryable,
  id: string,
  outcome: StripeWebhookOutcome,
  usersChanged: number,
): Promise<void> {
  await db
    .updateTable("stripe_webhook_events")
    .set({ outcome, users_changed: usersChanged })
    .where("id", "=", id)
    .execute();
}

/**
 * Makes this event the customer's newest applied one, unless a newer one was applied: false then. The
 * upsert locks the customer's row until commit, so events for one customer are applied one at a time
 * and the second compares against what the first wrote. A tie (Stripe's `created` is in whole
 * seconds) goes to the event that arrives later.
 */
export async function advanceCustomerMark(db: Queryable, customerId: string, event: ReceivedEvent) {
  const row = await db
    .insertInto("stripe_customer_billing")
    .values({
      stripe_customer_id: customerId,
      last_event_created: event.created,
      last_event_id: event.id,
    })
    .onConflict((oc) =>
      oc
        .column("stripe_customer_id")
        .doUpdateSet((eb) => ({
          last_event_created: eb.ref("excluded.last_event_created"),
          last_event_id: eb.ref("excluded.last_event_id"),
          updated_at: new Date(),
        }))
        .where("stripe_customer_billing.last_event_created", "<=", event.created),
    )
    .returning("stripe_customer_id")
    .executeTakeFirst();
  return row !== undefined;
}

export interface BillingState {
  user_id: string;
  stripe_customer_id: string | null;
  suspended_at: Date | null;
  suspended_reason: string | null;
}

/** The customer's users, locked until commit. */
export async function lockCustomerUsers(db: Queryable, customerId: string): Promise<BillingState[]> {
  return db
    .selectFrom("users")
    .select(["user_id", "stripe_customer_id", "suspended_at", "suspended_reason"])
    .where("stripe_customer_id", "=", customerId)
    .orderBy("user_id")
    .forUpdate()
    .execute();
}

export async function updateBillingState(db: Queryable, state: BillingState, now: Date): Promise<void> {
  const { user_id, ...fields } = state;
  await db
    .updateTable("users")
    .set({ ...fields, updated_at: now })
    .where("user_id", "=", user_id)
    .execute();
}

export interface AuditRecord {
  action: string;
  userId: string;
  changes: object;
}

/** Audit events as api-key-service writes them, with the webhook event as the actor. */
export async function insertAuditEvents(
  db: Queryable,
  actor: Extract<Actor, { type: "stripe_webhook" }>,
  requestId: string,
  clientIp: string | null,
  records: AuditRecord[],
): Promise<void> {
  if (records.length === 0) return;
  await db
    .insertInto("audit_events")
    .values(
      records.map((r) => ({
        action: r.action,
        user_id: r.userId,
        request_id: requestId,
        client_ip: clientIp,
        actor_id: actor.type,
        actor: JSON.stringify(actor),
        changes: JSON.stringify(r.changes),
      })),
    )
    .execute();
}
