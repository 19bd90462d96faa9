import { rateLimited } from "./errors.js";

/**
 * Stripe's "one concurrent call per customer per meter" on v1 meter event creates. A request
 * holds its slot while it executes; only requests that take time (a `slow` fault or
 * `meterEventLatencyMs`) can overlap, because the emulator otherwise answers in one turn of the
 * event loop.
 */
export class CustomerMeterSlots {
  private readonly held = new Set<string>();

  constructor(private readonly enforced: boolean) {}

  /** Takes the slot, or throws the 429 a second concurrent call gets. Returns the release. */
  acquire(meterId: string, customer: string): () => void {
    if (!this.enforced) return () => {};
    const key = `${meterId}\u0000${customer}`;
    // Which Stripe-Rate-Limited-Reason real Stripe sends here is unknown (reference §8).
    if (this.held.has(key)) throw rateLimited("resource-specific");
    this.held.add(key);
    return () => this.held.delete(key);
  }

  /** How many customer/meter pairs have a call in flight. */
  inFlight(): number {
    return this.held.size;
  }
}
