/**
 * Stripe delivery: usage_minutes seeded with many customers × closed minutes, a fresh sidecar pointed
 * at the Stripe emulator, and the time until the emulator holds one meter event per customer and
 * window, each exactly once with the seeded value.
 */

import {
  cpuSeconds,
  cpuSecondsBetween,
  cpuSecondsByPid,
  log,
  machineBusySeconds,
  sleep,
} from "@gateway/harness";
import { startStripeEmulator } from "@gateway/testing/stripe-emulator";
import type { StripeMode } from "./options.js";
import { BenchPostgres } from "./postgres.js";
import type { StripeRunRecord } from "./results.js";
import { type SidecarProcess, startSidecar } from "./sidecar.js";

const EVENT_NAME = "api_requests";
const KEYS_PER_CUSTOMER = 2;
const POLL_MS = 50;

export interface StripeRunSpec {
  mode: StripeMode;
  sendInterval: string;
  customers: number;
  minutes: number;
  latencyMs: number;
}

/** Billable requests per customer and window start (unix s), as seeded. */
type Expected = Map<string, number>;
const windowKey = (customer: string, startS: number) => `${customer} ${startS}`;

/**
 * `customers` customers with two keys each, over `minutes` whole minutes that ended at least two
 * minutes ago (so past STRIPE_SETTLE) and well inside STRIPE_LOOKBACK.
 */
export async function seedUsage(url: string, customers: number, minutes: number): Promise<Expected> {
  const lastMinute = Math.floor(Date.now() / 60_000) * 60_000 - 3 * 60_000;
  const columns = {
    key: [] as string[],
    minute: [] as string[],
    user: [] as string[],
    customer: [] as string[],
    billable: [] as number[],
  };
  const expected: Expected = new Map();
  for (let c = 0; c < customers; c++) {
    const customer = `cus_bench${String(c).padStart(6, "0")}`;
    for (let m = 0; m < minutes; m++) {
      const minuteMs = lastMinute - m * 60_000;
      let total = 0;
      for (let k = 0; k < KEYS_PER_CUSTOMER; k++) {
        const billable = 1 + ((c * 7919 + m * 104_729 + k * 31) % 5_000);
        columns.key.push(`key_bench_${c}_${k}`);
        columns.minute.push(new Date(minuteMs).toISOString());
        columns.user.push(`bench-user-${c}`);
        columns.customer.push(customer);
        columns.billable.push(billable);
        total += billable;
      }
      expected.set(windowKey(customer, minuteMs / 1000), total);
    }
  }
  const db = await BenchPostgres.connect(url);
  try {
    await db.query(
      `insert into usage_minutes (key_id, minute, user_id, stripe_customer_id, requests, billable_requests,
                                  billable_units, status_2xx)
       select k, m, u, c, b, b, b, b from unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::bigint[])
         as t(k, m, u, c, b)`,
      [columns.key, columns.minute, columns.user, columns.customer, columns.billable],
    );
  } finally {
    await db.close();
  }
  return expected;
}

export interface StripeRunContext {
  repoRoot: string;
  databaseUrl: string;
  nodeArgs: string[];
}

export async function runStripe(ctx: StripeRunContext, spec: StripeRunSpec): Promise<StripeRunRecord> {
  log(
    `\n▶ Stripe ${spec.mode}, STRIPE_SEND_INTERVAL ${spec.sendInterval}: ` +
      `${spec.customers} customers × ${spec.minutes} minutes`,
  );
  const expected = await seedUsage(ctx.databaseUrl, spec.customers, spec.minutes);
  const emulator = await startStripeEmulator({
    meters: [{ eventName: EVENT_NAME }],
    meterEventLatencyMs: spec.latencyMs,
  });
  let sidecar: SidecarProcess | undefined;
  try {
    const startedAt = Date.now();
    sidecar = await startSidecar(ctx.repoRoot, {
      databaseUrl: ctx.databaseUrl,
      stripe: {
        apiKey: emulator.apiKey,
        apiBase: emulator.url,
        mode: spec.mode,
        sendInterval: spec.sendInterval,
      },
      nodeArgs: ctx.nodeArgs,
    });
    const running = sidecar;
    const readyAt = Date.now();
    const cpuAt = () => {
      const own = process.cpuUsage();
      return {
        sidecar: cpuSeconds(running.pid),
        postgres: cpuSecondsByPid("postgres"),
        orchestrator: (own.user + own.system) / 1e6,
        machine: machineBusySeconds(),
      };
    };
    const before = cpuAt();
    // Generous: 20 events a second at least, plus the first pass.
    const deadline = readyAt + 30_000 + (expected.size / 20) * 1000;
    while (emulator.events().length < expected.size && Date.now() < deadline && running.isRunning()) {
      await sleep(POLL_MS);
    }
    const after = cpuAt();
    const doneAt = Date.now();
    // Anything still in flight lands before we look; then give a stray duplicate time to show up.
    await sleep(Math.max(2_000, running.config.STRIPE_SEND_INTERVAL + 500));
    await emulator.settled();
    const problems = checkExactlyOnce(emulator.events(), expected);
    if (emulator.errorReports().length > 0) {
      problems.push(`${emulator.errorReports().length} events dropped by the emulator's validation`);
    }
    if (!running.isRunning()) problems.push(`the sidecar exited:\n${running.recentOutput()}`);
    const db = await BenchPostgres.connect(ctx.databaseUrl);
    const outbox: Record<string, number> = {};
    try {
      for (const row of await db.query<{ status: string; n: string }>(
        "select status, count(*) as n from stripe_outbox group by status",
      )) {
        outbox[row.status] = Number(row.n);
      }
    } finally {
      await db.close();
    }
    if ((outbox.sent ?? 0) !== expected.size) {
      problems.push(`the outbox holds ${JSON.stringify(outbox)}, expected ${expected.size} sent`);
    }
    const events = emulator.events();
    const times = events.map((e) => e.receivedAtMs);
    const first = Math.min(...times);
    const last = Math.max(...times);
    const record: StripeRunRecord = {
      mode: spec.mode,
      sendInterval: spec.sendInterval,
      concurrency: running.config.STRIPE_CONCURRENCY,
      expected: expected.size,
      delivered: events.length,
      startToAllS: events.length >= expected.size ? (last - startedAt) / 1000 : undefined,
      startupS: (readyAt - startedAt) / 1000,
      firstToLastS: events.length > 1 ? (last - first) / 1000 : undefined,
      calls: emulator.requests().length,
      outbox,
      problems,
      cpu: {
        sidecar: after.sidecar - before.sidecar,
        postgres: cpuSecondsBetween(before.postgres, after.postgres),
        orchestrator: after.orchestrator - before.orchestrator,
        machine: after.machine - before.machine,
      },
      wallS: (doneAt - readyAt) / 1000,
      sidecarLog: running.logLines.slice(),
    };
    log(
      `  ${record.delivered} of ${record.expected} events ${record.startToAllS?.toFixed(1) ?? "–"} s after the sidecar started ` +
        `(first→last ${record.firstToLastS?.toFixed(1) ?? "–"} s: ${eventsPerS(record)?.toFixed(0) ?? "–"} events/s); ` +
        `${record.calls} HTTP calls; outbox ${JSON.stringify(outbox)}; sidecar ready after ${record.startupS.toFixed(1)} s`,
    );
    log(
      `  CPU s: sidecar ${record.cpu.sidecar.toFixed(2)}, postgres ${record.cpu.postgres.toFixed(2)}, ` +
        `bench+emulator ${record.cpu.orchestrator.toFixed(2)}, machine ${record.cpu.machine.toFixed(2)} over ${record.wallS.toFixed(1)} s`,
    );
    for (const problem of problems) log(`  ERROR: ${problem}`);
    return record;
  } finally {
    await sidecar?.stop();
    await emulator.close();
  }
}

/** Events a second from the first accepted to the last; undefined when they came too close together to tell. */
export function eventsPerS(run: StripeRunRecord): number | undefined {
  return run.firstToLastS && run.firstToLastS >= 0.5 ? (run.delivered - 1) / run.firstToLastS : undefined;
}

function checkExactlyOnce(
  events: readonly { customer: string; timestamp: number; value: string; identifier: string }[],
  expected: Expected,
): string[] {
  const problems: string[] = [];
  const identifiers = new Set(events.map((e) => e.identifier));
  if (identifiers.size !== events.length) {
    problems.push(`${events.length - identifiers.size} events repeat an identifier`);
  }
  const seen = new Map<string, number>();
  for (const event of events) {
    const key = windowKey(event.customer, event.timestamp);
    seen.set(key, (seen.get(key) ?? 0) + 1);
    const want = expected.get(key);
    if (want === undefined) problems.push(`an event for a window never seeded: ${key}`);
    else if (Number(event.value) !== want) problems.push(`${key}: value ${event.value}, seeded ${want}`);
  }
  const twice = [...seen.values()].filter((n) => n > 1).length;
  if (twice > 0) problems.push(`${twice} customer-windows delivered more than once`);
  const missing = [...expected.keys()].filter((key) => !seen.has(key)).length;
  if (missing > 0) problems.push(`${missing} customer-windows never delivered`);
  return problems.slice(0, 10);
}
