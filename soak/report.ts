import { BUSY_WARNING } from "@gateway/harness";
import { reproduceCommand } from "./options.js";
import { errorRows, int, memoryRow, targetRows, windowRows } from "./report-tables.js";
import { MAX_DENY_MS, type SoakReport } from "./results.js";

function rssSeries(report: SoakReport): string[] {
  const run = report.samples.filter((s) => s.at >= report.t0 && s.at <= report.measuredTo);
  const firstMeasured = run.find((s) => s.at >= report.measuredFrom);
  return (["service", "sidecar"] as const).map((which) => {
    const values = run.map((s) => {
      const mark = s === firstMeasured ? "| " : "";
      return `${mark}${s[which] ? Math.round(s[which].rssKiB / 1024) : "–"}`;
    });
    return `- ${which === "service" ? "api-key-service" : "billing-sidecar"}: ${values.join(" ")}`;
  });
}

/** The sidecar's request-id window fills at the access-log rate: growth until then is not a leak. */
function dedupeNote(report: SoakReport): string[] {
  const fillS = report.sidecarSettings.dedupeEntries / report.options.alsRate;
  if (fillS <= report.options.warmupS) return [];
  return [
    "",
    `The sidecar remembers the last ${int(report.sidecarSettings.dedupeEntries)} request ids (DEDUPE_WINDOW_ENTRIES) ` +
      `to drop Envoy's retransmissions; at ${int(report.options.alsRate)} entries/s that window is full only ` +
      `${fillS.toFixed(0)} s into the traffic, after the ${report.options.warmupS} s warm-up, so part of the ` +
      `sidecar's growth is the window filling. SOAK_WARMUP_S=${Math.ceil(fillS / 10) * 10 + 10} starts the ` +
      "measurement after it is full.",
  ];
}

export function renderReport(report: SoakReport): string {
  const { machine, options, churn, billing, memory } = report;
  const measured = report.windows.filter((w) => w.measured && w.result);
  const checks = measured.reduce((n, w) => n + (w.result?.checks ?? 0), 0);
  const windowS = measured.reduce((n, w) => n + (w.result?.windowS ?? 0), 0);
  const runS = (report.measuredTo - report.t0) / 1000;
  const targets = targetRows(report);
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  push(
    "# Soak test",
    "",
    "<!-- Written by `pnpm soak` (soak/run.ts); edits here are overwritten. -->",
    "",
    "The real processes, started as in the benchmarks (`node --import tsx …/src/run.ts`), under mixed traffic at " +
      "about half of capacity for a sustained period: ext_authz Checks, key changes over the REST API, and Envoy's " +
      "access log into the billing sidecar, whose Stripe is an emulator. The targets: no errors of any kind, and " +
      "resident memory of each service growing by less than 10 % from the start to the end of the measured time.",
    "",
    `Measured ${report.startedAt.toISOString().replace(/\.\d+Z$/, "Z")} at commit \`${machine.commit}\` (the working ` +
      `tree may have held uncommitted changes) on ${machine.cpus} × ${machine.cpuModel}, ${machine.memoryGiB} GiB, ` +
      `${machine.kernel}, Node ${machine.node}, PostgreSQL ${machine.postgres}, Redis ${machine.redis}. ` +
      `${options.warmupS} s warm-up + ${options.durationS} s measured; the whole run took ${int(report.wallS)} s.` +
      (machine.busyBefore > BUSY_WARNING
        ? ` Other processes were using ${machine.busyBefore.toFixed(2)} cores before the start (load ${machine.loadBefore}): latency figures are disturbed.`
        : ""),
    "",
    "## Targets",
    "",
    "| target | goal | measured | result |",
    "| --- | --- | --- | --- |",
    ...targets.rows,
    "",
    "## What ran",
    "",
    `All at once, from the start of the warm-up to the end of the measured time, against one api-key-service ` +
      `(KEY_CACHE_TTL ${report.serviceSettings.keyCacheTtlS} s) and one billing-sidecar sharing a fresh database ` +
      `(${int(options.keys)} keys seeded in ${report.seedS.toFixed(1)} s):`,
    "",
    `- **Checks**: ${int(options.checkRate)}/s paced (open loop), round-robin over the ${int(options.keys)} seeded keys, ` +
      "which never change, so any denial is a failure; from bench/authz's raw-HTTP/2 generator over 4 connections, " +
      "one process per window (the warm-up, then each minute), each spawned ahead and started as the previous one " +
      `stops. Measured: ${int(checks)} checks at ${int(windowS > 0 ? checks / windowS : 0)}/s.`,
    `- **Key changes**: ${options.changeRate}/s over the REST API with the admin token, cycling create → patch limits → ` +
      "rotate (every other one without a grace period) → revoke, each followed by Checks on that key: a new, patched " +
      `or rotated-in secret must be allowed at once, a revoked or graceless rotated-out one denied within ${MAX_DENY_MS} ms ` +
      `(polled every 50 ms). ${int(churn.opTimes.length)} changes, ${int(churn.probes)} Checks.`,
    `- **Access log**: ${int(options.alsRate)} entries/s over ${options.alsStreams} streams from bench/billing's generator ` +
      `(100 customers), into the sidecar (USAGE_FLUSH_INTERVAL ${report.sidecarSettings.flushIntervalMs} ms) with the ` +
      `Stripe emulator as its Stripe (STRIPE_WINDOW ${report.sidecarSettings.stripeWindowMs / 1000} s, STRIPE_SETTLE ` +
      `${report.sidecarSettings.stripeSettleMs / 1000} s). After the traffic: usage in Postgres must equal the entries ` +
      "sent that count, nothing shed, and every customer-window delivered to Stripe exactly once, after waiting for the " +
      "last window to close and settle.",
    "",
    `Over the measured time the whole machine was busy on ${report.machineBusyCores.toFixed(2)} of its ` +
      `${machine.cpus} cores (/proc/stat: the services, Redis, Postgres and the generators together): about ` +
      `${Math.round((report.machineBusyCores / machine.cpus) * 100)} % of what it can do.`,
    "",
    "## Per minute",
    "",
    'Latency is from handing the request to the socket to the end of its response; "from schedule" adds the ' +
      "generator's own lateness. Check failures are HTTP, gRPC and transport errors, denials, and sends skipped at the " +
      "in-flight cap, inside the window or while it drained. RSS is the mean and the largest of the 5-second samples in the window; the " +
      "ingest lag is how far usage_minutes was behind the access log at the window's samples.",
    "",
    ...windowRows(report),
    "",
    "## Errors by kind",
    "",
    "Counted by when they happened: during the warm-up (which starts with every cache cold), or after it, in the " +
      "measured time and the checks that follow the traffic; the target counts the latter. Every line " +
      "api-key-service and billing-sidecar log is an error here: both run at LOG_LEVEL=warn.",
    "",
    ...errorRows(report),
    ...(report.harnessErrors.length > 0
      ? [
          "",
          "The harness itself failed (not a finding about the services):",
          ...report.harnessErrors.map((e) => `- ${e}`),
        ]
      : []),
    "",
    "## Memory and CPU",
    "",
    `VmRSS from /proc/<pid>/status every ${options.sampleS} s. **Start** is the lowest sample in the first half of ` +
      "the measured time (which begins after the warm-up), **end** the lowest in the second half: Node's RSS saws up " +
      "and down between major garbage collections (the sidecar's by a third, over a minute or two, see the samples " +
      "below), so a single sample, or a mean over a short span, measures where in that cycle it fell, while the " +
      "floor the process comes back to is what a leak raises. This needs halves longer than one cycle: the default " +
      "300 s. The V8 heap in use (`nodejs_heap_size_used_bytes` from each process's /metrics, scraped at the same " +
      "instants) is taken the same way: RSS growing while the heap does not points outside the JavaScript heap. Idle is " +
      "right after the process was ready, before any traffic; VmHWM is the kernel's peak, between samples too. CPU " +
      "is utime + stime from /proc/<pid>/stat from the start of the warm-up to the end of the measured time.",
    "",
    "The warm-up (default 180 s) is there so that the measured time starts in the steady state each process " +
      "returns to, not on its way there. Until its first full (mark-compact) collection under load, a Node " +
      "process's RSS only climbs while V8 grows the old generation toward its first limit; that collection then " +
      "drops it below where it settles. With the earlier 30 s warm-up, api-key-service climbed from 162 to 203 MiB " +
      "over the first 75 s of the measured time, fell to 137 MiB at its first full collection and held at 157-159 " +
      "MiB for the last 3.5 minutes, its JavaScript heap flat (38.6 → 37.8 MiB): +15 % by this measure, from a " +
      "start sample that was the one dip. The table counts each process's full collections " +
      '(`nodejs_gc_duration_seconds_count{kind="major"}`) in the warm-up and in the measured time; the ' +
      "targets flag a process whose first one came after the warm-up.",
    "",
    "| process | idle MiB | start MiB | end MiB | growth | peak MiB | VmHWM MiB | heap start → end MiB | full GCs warm-up / measured | CPU s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    memoryRow("api-key-service", memory.service, runS),
    memoryRow("billing-sidecar", memory.sidecar, runS),
    "",
    `Every RSS sample in MiB, ${options.sampleS} s apart from the start of the warm-up (| marks its end):`,
    "",
    ...rssSeries(report),
    ...dedupeNote(report),
    "",
    "## Key changes",
    "",
    "| change | calls | failed | mean ms | max ms |",
    "| --- | ---: | ---: | ---: | ---: |",
    ...Object.entries(churn.ops).map(
      ([op, s]) =>
        `| ${op} | ${int(s.calls)} | ${int(s.failed)} | ${s.calls ? (s.totalMs / s.calls).toFixed(1) : "–"} | ${s.maxMs.toFixed(1)} |`,
    ),
    "",
    `Denials after a revoke or a graceless rotation: ${int(churn.denials)}, the slowest ${int(churn.maxDenyMs)} ms ` +
      "after the REST answer. What the service decided over the run (`authz_checks_total`): " +
      `${Object.entries(report.checkDecisions)
        .map(([k, n]) => `${k} ${int(n)}`)
        .join(", ")}.`,
    "",
    "## Billing",
    "",
    `- Entries sent ${int(billing.entries)}, of which count as requests ${int(billing.counted)}; usage_minutes holds ` +
      `${int(billing.usageRequests)} requests` +
      (billing.drainS === undefined
        ? "."
        : ` (caught up ${billing.drainS.toFixed(1)} s after the streams ended).`),
    `- als_entries_total: ${JSON.stringify(billing.entriesByResult)}; usage_batches_total: ${JSON.stringify(billing.batches)}.`,
    `- Stripe: ${int(billing.stripe.windows)} customer-windows with billable usage, ${int(billing.stripe.events)} meter ` +
      `events received (${int(billing.stripe.corrections)} late-usage corrections) in ${int(billing.stripe.calls)} ` +
      `POSTs; outbox ${JSON.stringify(billing.stripe.outbox)}; ` +
      (billing.stripe.deliveredS === undefined
        ? "never all delivered."
        : `all delivered ${billing.stripe.deliveredS.toFixed(1)} s after the last window closed.`),
    "",
    "## Reproduce",
    "",
    "```sh",
    `${reproduceCommand(options)}   # needs Postgres and Redis on 127.0.0.1 (BENCH_PG_URL, BENCH_REDIS_URL)`,
    "```",
    "",
    "Settings: SOAK_DURATION_S (measured seconds, default 300), SOAK_WARMUP_S (180), SOAK_CHECK_RATE (2000), " +
      "SOAK_KEYS (1000), SOAK_CHANGE_RATE (4), SOAK_ALS_RATE (10000), SOAK_ALS_STREAMS (4), SOAK_OUTPUT " +
      "(docs/SOAK.md). The command exits non-zero when the soak could not run (setup, a generator that failed on " +
      "its own), not when a target is missed.",
    "",
  );
  return out.join("\n");
}
