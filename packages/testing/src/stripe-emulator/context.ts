import type { CustomerStore } from "./customers.js";
import type { DeferrableCheck, RuleContext } from "./event-rules.js";
import type { Ledger } from "./ledger.js";
import type { MeterRegistry } from "./meters.js";
import type { SessionStore } from "./sessions.js";
import type { CustomerMeterSlots } from "./slots.js";

/** Everything the endpoints share; one per emulator. */
export interface EmulatorState {
  meters: MeterRegistry;
  ledger: Ledger;
  sessions: SessionStore;
  slots: CustomerMeterSlots;
  nowMs: () => number;
  customers: CustomerStore;
  /** v1 checks answered 200 plus an error report instead of 400. */
  deferredChecks: ReadonlySet<DeferrableCheck>;
  /** Processing time of every v1 meter event create, on top of injected `slow` faults. */
  meterEventLatencyMs: number;
  /** How long an accepted event stays out of summaries (Stripe aggregates asynchronously). */
  summaryLagMs: number;
}

export interface HandlerRequest {
  method: string;
  path: string;
  /** Named groups of the route pattern, e.g. the meter id. */
  pathParams: Record<string, string>;
  /** A parsed form (v1) or JSON body / query (v2). */
  params: unknown;
  /** The API key or session token that authenticated the request. */
  credential: string;
  /**
   * The endpoint's execution time: injected `slow` delay plus `extraMs`. Handlers call it once,
   * after validation and before committing, so that the request holds its locks meanwhile.
   */
  pause(extraMs?: number): Promise<void>;
}

export interface HandlerResult {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

export type Handler = (req: HandlerRequest, state: EmulatorState) => HandlerResult | Promise<HandlerResult>;

export const ok = (body: unknown): HandlerResult => ({ status: 200, body });

export const nowSeconds = (state: EmulatorState): number => Math.floor(state.nowMs() / 1000);

export function ruleContext(state: EmulatorState): RuleContext {
  return {
    meters: state.meters,
    nowSeconds: nowSeconds(state),
    knownCustomers: state.customers.eventCustomers(),
  };
}
