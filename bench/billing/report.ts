import { BUSY_WARNING } from "@gateway/harness";
import { NOISY_CORES } from "../authz/results.js";
import {
  type BillingReport,
  isNoisyStep,
  isSustained,
  isValidStep,
  isValidStripeRun,
  MAX_LAG_S,
  MIN_SENT_SHARE,
  otherCpu,
  type StepRecord,
  TARGET_RATE,
} from "./results.js";
import { eventsPerS } from "./stripe-phase.js";

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const fixed = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : "–");
/** What one outbox pass works through at most: 20 pages of 500 due events (outbox-worker.ts). */
const OUTBOX_PASS_LIMIT = 10_000;

function stepVerdict(step: StepRecord): string {
  if (!isValidStep(step)) return "**invalid**";
  const reasons: string[] = [];
  if (step.sentPerS < MIN_SENT_SHARE * step.rate) reasons.push("pushed back");
  if (step.lag.maxS > MAX_LAG_S) reasons.push(`lag > ${MAX_LAG_S} s`);
  if (step.totals.postgres !== step.totals.counted) reasons.push("incomplete");
  if ((step.entriesByResult.shed ?? 0) > 0) reasons.push("shed");
  const verdict = reasons.length === 0 ? "sustained" : `**not sustained** (${reasons.join(", ")})`;
  return `${verdict}${isNoisyStep(step) ? " †" : ""}`;
}

export function targetVerdict(report: BillingReport): { line: string; pass: boolean | undefined } {
  const steps = report.steps;
  if (steps.length === 0) return { line: "not measured (no ingest steps ran)", pass: undefined };
  const sustained = steps.filter(isSustained);
  const best = sustained.reduce<StepRecord | undefined>((a, s) => (!a || s.rate > a.rate ? s : a), undefined);
  const passing = sustained.find((s) => s.rate >= TARGET_RATE);
  const deciding = passing ?? steps.find((s) => !isSustained(s));
  const disturbed = deciding !== undefined && isNoisyStep(deciding);
  const measured = best
    ? `highest sustained step ${int(best.rate)} entries/s (lag max ${fixed(best.lag.maxS)} s)`
    : "no step sustained";
  // Other work only takes CPU from the sidecar: a pass in a disturbed window stands, a failure does not.
  if (passing) {
    const step = `${int(passing.rate)} entries/s sustained (lag max ${fixed(passing.lag.maxS)} s${disturbed ? ", despite other work in the window †" : ""})`;
    return { line: `**pass**: ${step}; ${measured}`, pass: true };
  }
  if (steps.every((s) => isSustained(s)) && steps.every((s) => s.rate < TARGET_RATE)) {
    return {
      line: `not measured: the ladder stopped below ${int(TARGET_RATE)} entries/s; ${measured}`,
      pass: undefined,
    };
  }
  const rerun = disturbed ? "; other work disturbed the failing window †: rerun on a quiet machine" : "";
  return { line: `**FAIL**: ${measured}${rerun}`, pass: false };
}

export function renderReport(report: BillingReport): string {
  const { machine, options, steps, stripe } = report;
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  const settings = report.sidecarSettings;

  push(
    "## Billing sidecar",
    "",
    "<!-- Written by `pnpm bench:billing` (bench/billing/run.ts); edits here are overwritten. -->",
    "",
    "The billing sidecar receives Envoy's access log (`StreamAccessLogs`), rolls it up per key and minute in memory, " +
      "writes the rollups to Postgres every `USAGE_FLUSH_INTERVAL`, and reports each customer's usage to Stripe " +
      "through an outbox (docs/BILLING.md). This file records what one machine measured: how many entries a second " +
      "it ingests while keeping Postgres at most 2 s behind, and how fast the outbox delivers meter events.",
    "",
    `Measured ${report.startedAt.toISOString().replace(/\.\d+Z$/, "Z")} at commit \`${machine.commit}\` (the working ` +
      `tree may have held uncommitted changes) on ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, ` +
      `PostgreSQL ${machine.postgres}; the whole benchmark took ${int(report.wallS)} s.`,
    "",
    "### Target",
    "",
    "| target | goal | measured |",
    "| --- | --- | --- |",
    `| access-log entries ingested, sustained | ≥ ${int(TARGET_RATE)} entries/s with Postgres ≤ ${MAX_LAG_S} s behind | ${targetVerdict(report).line} |`,
    "",
  );
  if (steps.some(isNoisyStep)) {
    push(
      `† Other processes used more than ${NOISY_CORES} of a core on average during that window (see "other CPU" ` +
        `below): the figure is disturbed. On ${machine.cpus} cores the generator, the sidecar and Postgres already share ` +
        "the machine, so anything else running lowers every figure here; rerun on a quiet machine before relying on one.",
      "",
    );
  }

  push("### Ingest: access log → Postgres", "");
  if (steps.length === 0) push("Not run (`BENCH_BILLING_PHASES` left it out).", "");
  else {
    push(
      `A ladder of paced rates, each with a fresh sidecar: ${options.warmupS} s warm-up, then a ${options.durationS} s ` +
        `measured window. ${options.streams} streams (one per Envoy worker, each on its own HTTP/2 connection) carry ` +
        `batches of about ${int(options.batchBytes)} bytes (Envoy's \`buffer_size_bytes\`; ` +
        `${steps[0]?.generator.entriesPerMessage ?? "–"} entries, ${int(steps[0]?.generator.messageBytes ?? 0)} bytes a message) ` +
        `for ${int(options.keys)} keys over ${int(options.customers)} customers. About 98.8% of entries are usage (ext_authz ` +
        "identity, not denied): mostly 200s, some other 2xx/3xx, 4xx and 5xx and a few without a response; the rest are " +
        "`/health` entries without an identity and ext_authz denials, which the sidecar reads and skips. " +
        `A step is **sustained** when the generator could send at least ${MIN_SENT_SHARE * 100}% of the rate (HTTP/2 flow ` +
        `control holds it back when the sidecar stops reading), Postgres was never more than ${MAX_LAG_S} s behind, and ` +
        "after the window Postgres held every request sent with nothing shed. The ladder stops at the first step that " +
        "is not.",
      "",
      "| entries/s (target) | sent entries/s | generator behind schedule, max (s) | requests/s into Postgres | lag max / p90 / mean (s) | drained after (s) | in Postgres / sent | shed | sidecar RSS peak / VmHWM (MiB) | event-loop delay p99 / max (ms) | verdict |",
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    );
    for (const step of steps) {
      const loop = step.eventLoopDelay;
      push(
        `| ${int(step.rate)} | ${int(step.sentPerS)} | ${fixed(step.generator.maxBehindS)} | ${int(step.postgresPerS)} | ` +
          `${fixed(step.lag.maxS)} / ${fixed(step.lag.p90S)} / ${fixed(step.lag.meanS)} | ` +
          `${step.drainS === undefined ? "never" : fixed(step.drainS, 1)} | ${int(step.totals.postgres)} / ${int(step.totals.counted)} | ` +
          `${int(step.entriesByResult.shed ?? 0)} | ${fixed(step.memory.peakRssMiB, 0)} / ${fixed(step.memory.hwmMiB, 0)} | ` +
          `${loop ? `${fixed(loop.p99Ms, 0)} / ${fixed(loop.maxMs, 0)}` : "–"} | ${stepVerdict(step)}${step.remeasured ? " (measured twice)" : ""} |`,
      );
    }
    push(
      "",
      "Lag is read every 250 ms: `select sum(requests) from usage_minutes` against the generator's own timeline of " +
        "requests sent (a point every 100 ms), giving the age of the oldest request sent that Postgres does not " +
        "hold yet. Its floor is the flush interval: rollups are written every " +
        `${fixed(settings.flushInterval / 1000, 1)} s (\`USAGE_FLUSH_INTERVAL\`), so even an idle sidecar is up to about ` +
        "that much plus one write behind. The samples run from the window's start until Postgres holds everything " +
        "sent, so a backlog still draining after the window counts too. Memory is read from `/proc/<pid>/status` " +
        "(VmRSS every 250 ms, VmHWM at the end of the step, start-up included). The event-loop delay is prom-client's, " +
        "over the window.",
      "",
      'Lag counts from when an entry was written to its stream. "Behind schedule" is the other half: how far the ' +
        "generator fell behind its pacing, because the streams were full (the sidecar not reading fast enough) or " +
        "because the generator itself did not get the CPU on a busy machine. A real Envoy does not queue like this: " +
        "once its stream's write buffer is above the high watermark it holds one more batch (`buffer_size_bytes`) and " +
        "drops new entries, counting them in `access_logs.grpc_access_log.logs_dropped`. So a step " +
        "that was behind schedule by more than a fraction of a second is one in which Envoy could have dropped entries.",
      "",
      "CPU over each window, from `/proc/<pid>/stat` (generator, sidecar, every `postgres` process, the benchmark " +
        `process with the Stripe emulator) and \`/proc/stat\` for the whole machine (${machine.cpus} cores, so at most ` +
        `${machine.cpus} s of CPU a second). "Other" is busy time charged to none of them: other work on the machine.`,
      "",
      "| entries/s (target) | window s | generator CPU s | sidecar CPU s | sidecar µs/entry | generator µs/entry | Postgres CPU s | bench CPU s | other CPU s | machine busy (cores) |",
      "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const step of steps) {
      const c = step.cpu;
      const entries = step.sentPerS * step.windowS;
      push(
        `| ${int(step.rate)} | ${fixed(step.windowS, 1)} | ${fixed(c.generator)} | ${fixed(c.sidecar)} | ` +
          `${entries > 0 ? fixed((c.sidecar / entries) * 1e6, 1) : "–"} | ${entries > 0 ? fixed((c.generator / entries) * 1e6, 2) : "–"} | ` +
          `${fixed(c.postgres)} | ${fixed(c.orchestrator)} | ${fixed(otherCpu(c))}${isNoisyStep(step) ? " †" : ""} | ` +
          `${fixed(c.machine / step.windowS)} |`,
      );
    }
    push("");
    const logged = steps.filter((s) => s.sidecarLog.length > 0 || s.errors.length > 0);
    for (const step of logged) {
      push(`At ${int(step.rate)} entries/s:`);
      for (const error of step.errors) push(`- error: ${error.split("\n")[0]}`);
      for (const line of step.sidecarLog.slice(0, 3)) push(`- sidecar log: \`${line.slice(0, 300)}\``);
      if (step.sidecarLog.length > 3) push(`- … ${step.sidecarLog.length - 3} more sidecar log lines`);
      push("");
    }
  }

  push("### Stripe: outbox → meter events", "");
  if (stripe.length === 0) push("Not run (`BENCH_BILLING_PHASES` left it out).", "");
  else {
    push(
      `Each run seeds a fresh database with ${int(options.stripeCustomers)} customers × ${options.stripeMinutes} closed ` +
        "minutes of usage (two keys per customer), starts a sidecar pointed at the Stripe emulator " +
        "(packages/testing, in the benchmark process) and waits until the emulator has accepted one meter event per " +
        "customer and window (`STRIPE_WINDOW` 1m). Then it checks **exactly once**: no identifier twice, every " +
        "customer-window once with the seeded billable count, and the outbox all `sent`. " +
        `The emulator answers at once (\`BENCH_BILLING_STRIPE_LATENCY_MS\` ${options.stripeLatencyMs}), so these are ` +
        "the sidecar's own limits, not Stripe's: against real Stripe a v1 call takes tens to hundreds of ms, and " +
        "v1 delivers about `STRIPE_CONCURRENCY` / that latency events a second.",
      "",
      "| mode | `STRIPE_SEND_INTERVAL` | `STRIPE_CONCURRENCY` | customer-windows | delivered | exactly once | events/s (first → last) | sidecar start → all delivered (s) | of which start-up (s) | HTTP calls | sidecar CPU s | Postgres CPU s | other CPU s |",
      "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const run of stripe) {
      const rate = eventsPerS(run);
      push(
        `| ${run.mode} | ${run.sendInterval} | ${run.concurrency} | ${int(run.expected)} | ${int(run.delivered)} | ` +
          `${isValidStripeRun(run) ? "yes" : `**no**: ${run.problems[0]?.split("\n")[0] ?? ""}`} | ${rate === undefined ? "–" : int(rate)} | ` +
          `${run.startToAllS === undefined ? "–" : fixed(run.startToAllS, 1)} | ${fixed(run.startupS, 1)} | ${int(run.calls)} | ${fixed(run.cpu.sidecar)} | ` +
          `${fixed(run.cpu.postgres)} | ${fixed(otherCpu(run.cpu))} |`,
      );
    }
    const intervals = [...new Set(stripe.map((r) => r.sendInterval))];
    push(
      "",
      `An outbox pass starts every \`STRIPE_SEND_INTERVAL\` and works through the backlog in pages of 500 due ` +
        `events, at most ${int(OUTBOX_PASS_LIMIT)} a pass (outbox-worker.ts), so the interval mostly sets the wait ` +
        `before the first pass (${intervals.map((i) => `${i}: at most ${int(OUTBOX_PASS_LIMIT / (durationMs(i) / 1000))}/s over a long backlog`).join(", ")}). ` +
        '"Sidecar start → all delivered" counts from spawning the sidecar: its start-up (shown beside it) and the wait ' +
        "for the first pass, one interval after it is up, are included.",
      "",
    );
  }

  push(
    "### Machine",
    "",
    `- CPU: ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB memory`,
    `- ${machine.kernel}; Node ${machine.node}; PostgreSQL ${machine.postgres} (local, shared with other users)`,
    `- before the run: load average ${machine.loadBefore}; other processes busy on ${fixed(machine.busyBefore)} cores` +
      (machine.busyBefore > BUSY_WARNING ? " (**a busy machine: expect noisy figures**)" : ""),
    `- before each step the benchmark waited for other work to pass, ${fixed(report.quietWait.waitedS, 0)} s of a ` +
      `${report.quietWait.budgetS} s budget; a step that failed in a disturbed window was measured once more`,
    `- sidecar settings: \`USAGE_FLUSH_INTERVAL\` ${settings.flushInterval} ms, \`USAGE_BATCH_ROWS\` ${int(settings.batchRows)}, ` +
      `\`USAGE_BUFFER_ROWS\` ${int(settings.bufferRows)}, \`DEDUPE_WINDOW_ENTRIES\` ${int(settings.dedupeEntries)}, ` +
      `\`STRIPE_CONCURRENCY\` ${settings.stripeConcurrency}, \`LOG_LEVEL\` warn`,
    "",
    "### How it is measured",
    "",
    "- **Sidecar**: `node --import tsx billing-sidecar/src/run.ts`, a child process on free ports with `HOST=127.0.0.1`, " +
      "a fresh process for every step and Stripe run; its other settings are its defaults unless set in the " +
      "benchmark's environment. It sends meter events to the emulator during ingest too, as in production.",
    "- **Generator** (bench/billing/generator.ts): a separate process playing an Envoy with several workers over " +
      "`node:http2`: `content-type: application/grpc`, `te: trailers`, length-prefixed gRPC frames, the identifier on " +
      "each stream's first message only, and writes that wait for `drain` when a stream's buffer is full. Messages are " +
      "encoded once with the sidecar's own proto-loader definition and replayed with a new 36-character request id " +
      "per entry written into a copy of the bytes (the sidecar drops ids it has seen) and `start_time` rewritten in " +
      "place every second; a decode of a stamped message is checked before the run. It sends whole messages as they " +
      "fall due on a 1 ms timer and reports a timeline of what it sent.",
    "- **Postgres** is a database created for the run (dropped at the end) on the server at `BENCH_PG_URL`.",
    "- **A step is invalid** (and the benchmark exits 1) when a stream failed, the sidecar exited, Postgres held more " +
      "than was sent, the sidecar saw a duplicate, or its entry counters do not add up to what was sent. A missed target is " +
      "not an error.",
    "",
    "### Reproduce",
    "",
    "```sh",
    "pnpm bench:billing            # or: npx tsx bench/billing/run.ts",
    "```",
    "",
    "Needs Postgres on loopback (`BENCH_PG_URL`, default `postgres://postgres@127.0.0.1:5432/test`, a role that may " +
      "create databases). Settings (environment):",
    "",
    "| variable | this run | meaning |",
    "| --- | --- | --- |",
    `| \`BENCH_BILLING_RATES\` | ${options.rates.join(",")} | entries/s of each ingest step, lowest first |`,
    `| \`BENCH_BILLING_WARMUP_S\` / \`BENCH_BILLING_DURATION_S\` | ${options.warmupS} / ${options.durationS} | warm-up and measured window of each step |`,
    `| \`BENCH_BILLING_STREAMS\` | ${options.streams} | concurrent access-log streams (Envoy workers) |`,
    `| \`BENCH_BILLING_KEYS\` / \`BENCH_BILLING_CUSTOMERS\` | ${options.keys} / ${options.customers} | keys, and customers they belong to |`,
    `| \`BENCH_BILLING_BATCH_BYTES\` | ${options.batchBytes} | message size (Envoy's \`buffer_size_bytes\`) |`,
    `| \`BENCH_BILLING_TEMPLATES\` | ${options.templates} | distinct pre-encoded messages replayed |`,
    `| \`BENCH_BILLING_STRIPE_CUSTOMERS\` / \`BENCH_BILLING_STRIPE_MINUTES\` | ${options.stripeCustomers} / ${options.stripeMinutes} | seeded customer-windows of the Stripe runs |`,
    `| \`BENCH_BILLING_STRIPE_MODES\` | ${options.stripeModes.join(",")} | \`STRIPE_MODE\` of each Stripe run |`,
    `| \`BENCH_BILLING_STRIPE_SEND_INTERVALS\` | ${options.stripeSendIntervals.join(",")} | \`STRIPE_SEND_INTERVAL\` of each Stripe run |`,
    `| \`BENCH_BILLING_STRIPE_LATENCY_MS\` | ${options.stripeLatencyMs} | the emulator's time per v1 call |`,
    `| \`BENCH_BILLING_PHASES\` | ${[options.phases.ingest && "ingest", options.phases.stripe && "stripe"].filter(Boolean).join(",")} | which phases run |`,
    "| `BENCH_BILLING_CPU_PROF` | " +
      `${options.cpuProfileDir ? "set" : "unset"} | a directory: the sidecar runs with \`--cpu-prof\` and writes a profile per process there |`,
    "| `BENCH_BILLING_OUTPUT` | | this file (default docs/PERFORMANCE-BILLING.md) |",
    "",
    "Sidecar variables (`USAGE_FLUSH_INTERVAL`, `DEDUPE_WINDOW_ENTRIES`, …) set in the environment reach the sidecar. " +
      'Close other CPU-heavy work first: on a small machine it shows in every figure ("other CPU" above).',
    "",
  );
  return out.join("\n");
}

function durationMs(text: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(text);
  const n = Number(match?.[1] ?? 0);
  return match?.[2] === "ms" ? n : match?.[2] === "s" ? n * 1000 : n * 60_000;
}
