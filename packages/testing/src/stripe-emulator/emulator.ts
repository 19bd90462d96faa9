import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { aggregate, countedEvents } from "./aggregate.js";
import { secretKeyChecker } from "./auth.js";
import type { EmulatorState } from "./context.js";
import { type Customer, type CustomerInit, CustomerStore } from "./customers.js";
import type { DeferrableCheck } from "./event-rules.js";
import { type FaultControls, FaultQueue } from "./faults.js";
import { IdempotencyStore } from "./idempotency.js";
import { Ledger } from "./ledger.js";
import { MeterRegistry } from "./meters.js";
import { handle } from "./pipeline.js";
import { SessionStore } from "./sessions.js";
import { CustomerMeterSlots } from "./slots.js";
import type {
  ErrorReport,
  Meter,
  MeterInit,
  MeterTotal,
  RecordedMeterEvent,
  RequestRecord,
} from "./types.js";

export interface StripeEmulatorOptions {
  meters?: readonly MeterInit[];
  /** The emulator's clock in Unix milliseconds (see `manualClock`). Default Date.now. */
  now?: () => number;
  /** The one secret key accepted. Default: any `sk_test_…`/`rk_test_…` key, as stripe-mock does. */
  apiKey?: string;
  /**
   * The account's customers' ids. When given, events for any other customer (and for one created
   * later through `POST /v1/customers` or `addCustomer`, until deleted) are rejected (or reported);
   * without it, meter events may name any customer.
   */
  customers?: readonly string[];
  /**
   * v1 checks to answer with 200 and an error report instead of a 400, as real Stripe may run them
   * asynchronously (reference §1.4): `payload_keys` (customer/value key missing), `unknown_customer`.
   */
  reportInsteadOfReject?: readonly DeferrableCheck[];
  /** Enforce one concurrent v1 create per customer per meter. Default true. */
  concurrencyLimit?: boolean;
  /** Processing time of each v1 create, during which it holds its customer/meter slot. Default 0. */
  meterEventLatencyMs?: number;
  /** Accepted events stay out of event summaries this long (Stripe aggregates asynchronously). Default 0. */
  summaryLagMs?: number;
  /** How long an identifier stays taken. Default 24 h. */
  identifierTtlMs?: number;
  /** Lifetime of a v2 meter event session. Default 15 min. */
  sessionTtlMs?: number;
  /** Default 0: a free port. */
  port?: number;
}

export interface StripeEmulator {
  port: number;
  /** `http://127.0.0.1:<port>`, for raw requests. */
  url: string;
  /** A key the emulator accepts. */
  apiKey: string;
  /** Spread into the SDK config: `new Stripe(emulator.apiKey, { ...emulator.sdkConfig })`. */
  sdkConfig: { host: string; port: number; protocol: "http" };
  faults: FaultControls;
  addMeter(init: MeterInit): Meter;
  /** A meter deactivated or reactivated behind the sidecar's back. */
  setMeterStatus(idOrEventName: string, status: Meter["status"]): Meter;
  meters(): Meter[];
  /** A customer in the account, as if created in the Dashboard. */
  addCustomer(init?: CustomerInit): Customer;
  /** Accepted events, in the order they were accepted. */
  events(): readonly RecordedMeterEvent[];
  /** Events accepted on the wire but dropped by (asynchronous) validation. */
  errorReports(): readonly ErrorReport[];
  /** Every HTTP request received, optionally only those for one path and method. */
  requests(filter?: { path?: string | RegExp; method?: string }): RequestRecord[];
  /** Per meter and customer, the meter's formula over all accepted events (no summary lag). */
  totals(): MeterTotal[];
  total(eventName: string, customer: string): number;
  /** End every v2 session now, so the next stream call gets 401. */
  expireSessions(): void;
  /**
   * Resolves once no request is being processed. A request the client gave up on (SDK timeout)
   * still commits when its slow answer ends; await this before asserting on, or resetting, state.
   */
  settled(): Promise<void>;
  /** Forget events, reports, requests, identifiers, idempotency keys, sessions and faults; keep meters and customers. */
  reset(): void;
  close(): Promise<void>;
}

/**
 * A local Stripe Billing meter API (reference: stripe-metering.md) for the official SDK to talk to.
 *
 * @example
 * const clock = manualClock(Date.UTC(2026, 0, 15));
 * const emulator = await startStripeEmulator({ now: clock.now, meters: [{ eventName: "api_requests" }] });
 * const stripe = new Stripe(emulator.apiKey, { ...emulator.sdkConfig, maxNetworkRetries: 0 });
 * emulator.faults.rateLimit({ path: "/v1/billing/meter_events" });
 * // … drive the sidecar, then: emulator.total("api_requests", "cus_1"), emulator.requests({ path })
 * await emulator.close();
 */
export async function startStripeEmulator(options: StripeEmulatorOptions = {}): Promise<StripeEmulator> {
  const nowMs = options.now ?? Date.now;
  const meters = new MeterRegistry(() => Math.floor(nowMs() / 1000));
  for (const meter of options.meters ?? []) meters.add(meter);
  const customers = new CustomerStore(() => Math.floor(nowMs() / 1000), options.customers !== undefined);
  for (const id of new Set(options.customers)) customers.add({ id });
  const state: EmulatorState = {
    meters,
    ledger: new Ledger(nowMs, options.identifierTtlMs),
    sessions: new SessionStore(nowMs, options.sessionTtlMs),
    slots: new CustomerMeterSlots(options.concurrencyLimit ?? true),
    nowMs,
    customers,
    deferredChecks: new Set(options.reportInsteadOfReject ?? []),
    meterEventLatencyMs: options.meterEventLatencyMs ?? 0,
    summaryLagMs: options.summaryLagMs ?? 0,
  };
  const faults = new FaultQueue();
  const idempotency = new IdempotencyStore(nowMs);
  const requests: RequestRecord[] = [];
  const pipeline = { state, faults, idempotency, isSecretKey: secretKeyChecker(options.apiKey), requests };

  const inFlight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    // handle() answers every failure itself; this only guards against a bug escaping it.
    const done = handle(req, res, pipeline).catch(() => {
      res.destroy();
    });
    inFlight.add(done);
    void done.finally(() => inFlight.delete(done));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const totals = (): MeterTotal[] =>
    meters.list().flatMap((meter) => {
      const counted = countedEvents(meter, state.ledger.events());
      const customers = [...new Set(counted.map((e) => e.customer))];
      return customers.map((customer) => {
        const own = counted.filter((e) => e.customer === customer);
        const value = aggregate(meter.formula, own);
        return { meterId: meter.id, eventName: meter.eventName, customer, value, events: own.length };
      });
    });

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    apiKey: options.apiKey ?? "sk_test_emulator",
    sdkConfig: { host: "127.0.0.1", port, protocol: "http" },
    faults,
    addMeter: (init) => meters.add(init),
    setMeterStatus: (idOrEventName, status) => meters.setStatus(idOrEventName, status),
    meters: () => meters.list(),
    addCustomer: (init) => customers.add(init),
    events: () => state.ledger.events(),
    errorReports: () => state.ledger.errorReports(),
    requests: (filter = {}) => requests.filter((r) => matchesRequest(r, filter)),
    totals,
    total: (eventName, customer) =>
      totals().find((t) => t.eventName === eventName && t.customer === customer)?.value ?? 0,
    expireSessions: () => state.sessions.expireAll(),
    settled: async () => {
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
    },
    reset: () => {
      state.ledger.clear();
      state.sessions.clear();
      idempotency.clear();
      faults.clear();
      requests.length = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets from the SDK's agent would otherwise hold close() open.
        server.closeAllConnections();
      }),
  };
}

function matchesRequest(record: RequestRecord, filter: { path?: string | RegExp; method?: string }): boolean {
  if (filter.method !== undefined && filter.method.toUpperCase() !== record.method) return false;
  if (filter.path === undefined) return true;
  return typeof filter.path === "string" ? filter.path === record.path : filter.path.test(record.path);
}
