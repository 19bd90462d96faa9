import { z } from "zod";

/** What the sidecar uses of a Stripe event. */
export interface WebhookEvent {
  id: string;
  type: string;
  /** Stripe's `created`, whole seconds, as a date. */
  created: Date;
  /** The customer the event is about; null when it names none. */
  customerId: string | null;
}

const customerRef = z.union([z.string(), z.object({ id: z.string() }).loose()]).nullish();

const eventShape = z
  .object({
    id: z.string().min(1).max(255),
    type: z.string().min(1).max(255),
    created: z.number().int().nonnegative(),
    data: z.object({
      object: z
        .object({ object: z.string().optional(), id: z.string().optional(), customer: customerRef })
        .loose(),
    }),
  })
  .loose();

/**
 * The event as the sidecar reads it, or null when it is not an event at all. A customer event's
 * object is the customer; an invoice's or subscription's names it in `customer` (an id, or the
 * customer expanded).
 */
export function readEvent(body: unknown): WebhookEvent | null {
  const parsed = eventShape.safeParse(body);
  if (!parsed.success) return null;
  const { id, type, created, data } = parsed.data;
  const object = data.object;
  const customer = object.object === "customer" ? object.id : object.customer;
  const customerId = typeof customer === "string" ? customer : (customer?.id ?? null);
  return { id, type, created: new Date(created * 1000), customerId: customerId || null };
}
