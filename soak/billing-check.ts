/**
 * After the traffic: every access-log entry that counts reached usage_minutes (once, nothing shed),
 * and the Stripe emulator received each meter event once, with per-customer window totals equal to
 * the billable usage in Postgres. Waits for the last window to close and settle first.
 */
import type { AlsGeneratorResult, BenchPostgres, SidecarProcess } from "@gateway/bench/billing";
import { GiveUp, scrapeMetrics, sleep, waitFor } from "@gateway/harness";
import type { StripeEmulator } from "@gateway/testing/stripe-emulator";
import { byLabel } from "./metrics.js";
import type { BillingSummary, ErrorLog } from "./results.js";

const DRAIN_TIMEOUT_MS = 60_000;
const POLL_MS = 1_000;

/** Billable units (what meter events carry) per "customer window-start-seconds", as Postgres holds them. */
async function expectedWindows(db: BenchPostgres, windowMs: number): Promise<Map<string, number>> {
  const rows = await db.query<{ customer: string; start_s: string; n: string }>(
    `select stripe_customer_id as customer,
            extract(epoch from date_bin($1 * interval '1 millisecond', minute, timestamptz 'epoch'))::bigint as start_s,
            sum(billable_units)::bigint as n
       from usage_minutes where stripe_customer_id is not null
      group by 1, 2 having sum(billable_units) > 0`,
    [windowMs],
  );
  return new Map(rows.map((r) => [`${r.customer} ${r.start_s}`, Number(r.n)]));
}

function deliveredWindows(emulator: StripeEmulator): Map<string, number> {
  const delivered = new Map<string, number>();
  for (const event of emulator.events()) {
    const key = `${event.customer} ${event.timestamp}`;
    delivered.set(key, (delivered.get(key) ?? 0) + Number(event.value));
  }
  return delivered;
}

function differences(expected: Map<string, number>, delivered: Map<string, number>): string[] {
  const out: string[] = [];
  for (const [key, n] of expected) {
    const got = delivered.get(key) ?? 0;
    if (got !== n) out.push(`${key}: Stripe has ${got}, usage says ${n}`);
  }
  for (const [key, got] of delivered) if (!expected.has(key)) out.push(`${key}: Stripe has ${got}, no usage`);
  return out;
}

export interface BillingCheckInput {
  db: BenchPostgres;
  sidecar: SidecarProcess;
  emulator: StripeEmulator;
  als: AlsGeneratorResult | undefined;
  errors: ErrorLog;
  log: (message: string) => void;
}

export async function checkBilling(input: BillingCheckInput): Promise<BillingSummary> {
  const { db, sidecar, als, errors, log } = input;
  const config = sidecar.config;
  let drainS: number | undefined;
  const drainStart = Date.now();
  if (als) {
    log(`  waiting for Postgres to hold all ${als.counted.toLocaleString("en-US")} requests sent…`);
    try {
      await waitFor("usage_minutes to hold every request sent", DRAIN_TIMEOUT_MS, async () => {
        if (!sidecar.isRunning()) throw new GiveUp(`the sidecar exited:\n${sidecar.recentOutput()}`);
        return (await db.totalRequests()) >= als.counted ? true : undefined;
      });
      drainS = (Date.now() - drainStart) / 1000;
    } catch (err) {
      errors.add("billing: usage never caught up", (err as Error).message);
    }
  }
  const usageRequests = await db.totalRequests();
  if (als && usageRequests !== als.counted) {
    errors.add(
      usageRequests < als.counted ? "billing: usage missing in Postgres" : "billing: usage over-counted",
      `usage_minutes holds ${usageRequests} requests, the generator sent ${als.counted} that count`,
      Math.abs(usageRequests - als.counted),
    );
  }

  const stripe = await awaitStripe(
    input,
    config.STRIPE_WINDOW,
    config.STRIPE_SETTLE,
    config.STRIPE_SEND_INTERVAL,
  );

  const metrics = await scrapeMetrics(sidecar.httpPort);
  const entriesByResult = byLabel(metrics, "als_entries_total", "result");
  const batches = byLabel(metrics, "usage_batches_total", "result");
  const stripeCalls = byLabel(metrics, "stripe_meter_events_total", "result");
  errors.add("billing: entries shed", "als_entries_total{result=shed}", entriesByResult.shed ?? 0);
  errors.add(
    "billing: entries dropped as duplicates",
    "every id sent was new",
    entriesByResult.duplicate ?? 0,
  );
  errors.add("billing: usage batch writes failed", "usage_batches_total{result=failed}", batches.failed ?? 0);
  for (const result of ["rate_limited", "retry", "refused"]) {
    errors.add(
      `stripe: calls ${result}`,
      `stripe_meter_events_total{result=${result}}`,
      stripeCalls[result] ?? 0,
    );
  }
  if (als) {
    const billed =
      (entriesByResult.billed ?? 0) + (entriesByResult.not_billable ?? 0) + (entriesByResult.shed ?? 0);
    const skipped = (entriesByResult.no_identity ?? 0) + (entriesByResult.denied ?? 0);
    if (billed !== als.counted || skipped !== als.entries - als.counted) {
      errors.add(
        "billing: entry counts do not add up",
        `als_entries_total ${JSON.stringify(entriesByResult)} for ${als.entries} entries sent (${als.counted} usage)`,
      );
    }
    const bad = als.statuses.filter((s) => s !== "0");
    errors.add("billing: a stream ended with an error", `grpc-status ${bad.join(", ")}`, bad.length);
  }
  if (!sidecar.isRunning()) errors.add("billing: the sidecar exited", sidecar.recentOutput());
  return {
    entries: als?.entries ?? 0,
    counted: als?.counted ?? 0,
    usageRequests,
    entriesByResult,
    batches,
    drainS,
    stripe,
  };
}

async function awaitStripe(
  { db, emulator, errors, log }: BillingCheckInput,
  windowMs: number,
  settleMs: number,
  sendIntervalMs: number,
): Promise<BillingSummary["stripe"]> {
  let expected = await expectedWindows(db, windowMs);
  const lastStartS = Math.max(0, ...[...expected.keys()].map((key) => Number(key.split(" ")[1])));
  const lastClosedAt = lastStartS * 1000 + windowMs;
  const deadline = lastClosedAt + settleMs + 3 * sendIntervalMs + 30_000;
  log(
    `  waiting for Stripe: ${expected.size} customer-windows, the last closing ${Math.max(0, Math.round((lastClosedAt + settleMs - Date.now()) / 1000))} s from now (+ settle)…`,
  );
  let deliveredAt: number | undefined;
  while (Date.now() < deadline) {
    expected = await expectedWindows(db, windowMs);
    if (differences(expected, deliveredWindows(emulator)).length === 0) {
      deliveredAt = Date.now();
      break;
    }
    await sleep(POLL_MS);
  }
  // Anything still in flight lands, and a stray duplicate has a pass to show up in.
  await sleep(Math.max(2_000, sendIntervalMs + 500));
  await emulator.settled();
  expected = await expectedWindows(db, windowMs);
  const events = emulator.events();
  const diffs = differences(expected, deliveredWindows(emulator));
  errors.add("stripe: window total differs from usage", diffs.slice(0, 3).join("; "), diffs.length);
  const identifiers = new Set(events.map((e) => e.identifier));
  errors.add("stripe: an event delivered twice", "repeated identifier", events.length - identifiers.size);
  errors.add(
    "stripe: events dropped by validation",
    emulator.errorReports()[0]?.message ?? "",
    emulator.errorReports().length,
  );
  const outbox: Record<string, number> = {};
  for (const row of await db.query<{ status: string; n: string }>(
    "select status, count(*) as n from stripe_outbox group by status",
  )) {
    outbox[row.status] = Number(row.n);
  }
  for (const [status, n] of Object.entries(outbox)) {
    if (status !== "sent") errors.add(`stripe: outbox events ${status}`, `${n} events in stripe_outbox`, n);
  }
  return {
    windows: expected.size,
    events: events.length,
    calls: emulator.requests({ method: "POST" }).length,
    corrections: events.filter((e) => !e.identifier.endsWith(":0")).length,
    outbox,
    deliveredS: deliveredAt === undefined ? undefined : Math.max(0, (deliveredAt - lastClosedAt) / 1000),
  };
}
