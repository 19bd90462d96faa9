import { BUSY_WARNING, DocSection, type LatencySummary } from "@gateway/harness";
import { FORWARD_AUTH_SECTION } from "../forward-auth/report.js";
import { VERIFY_SECTION } from "../verify/report.js";
import { totalStatements } from "./pg-counter.js";
import {
  type BenchReport,
  failureCount,
  fellBehind,
  isNoisy,
  isValid,
  NOISY_CORES,
  otherCpu,
  type RunRecord,
  type RunSpec,
} from "./results.js";
import { TAIL_SECTION } from "./tail-report.js";

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (us: number) => (us / 1000).toFixed(2);
const perCheck = (n: number, checks: number) => (checks > 0 ? (n / checks).toFixed(4) : "–");
const fixed = (n: number, digits = 2) => n.toFixed(digits);

function describeLoad(run: RunRecord): string {
  const keys = run.spec.keys === "hot" ? "1 hot key" : "all keys round-robin";
  const load =
    run.spec.mode === "closed"
      ? `closed loop, ${run.config.concurrency} in flight`
      : `paced ${int(run.spec.rate)}/s (open loop)`;
  const again = run.discarded > 0 ? "; measured twice, the quieter window shown" : "";
  return `${keys}, ${load}${again}`;
}

export function runLabel(spec: RunSpec): string {
  const keys =
    spec.variant === "quota"
      ? "spread keys on a quota plan, cost 3"
      : spec.keys === "hot"
        ? "hot key"
        : `spread keys${spec.variant === "plain" ? " (beside the quota runs)" : ""}`;
  const mode = spec.mode === "closed" ? "max rate" : `paced ${int(spec.rate)}/s`;
  return `${spec.target}: ${keys}, ${mode}${spec.generator === "h2load" ? " (h2load)" : ""}`;
}

function failuresOf(run: RunRecord): string {
  const f = run.generator.failures;
  const parts = Object.entries({
    http: f.http,
    grpc: f.grpc,
    denied: f.denied,
    transport: f.transport,
    skipped: f.skipped,
    "decode mismatch": f.decodeMismatch,
  })
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${int(n)} ${kind}`);
  if (parts.length === 0) return "0";
  if (isComparisonOnly(run)) return `${parts.join(", ")} (rate beyond the no-op server's capacity)`;
  if (fellBehind(run)) return `**${parts.join(", ")} (fell behind: the rate was not sustained)**`;
  return `**${parts.join(", ")} (invalid)**`;
}

/**
 * The no-op server's paced run is driven at half the service's maximum, which can be more than the
 * grpc-js no-op sustains: then it shows where the no-op breaks down, and judges nothing.
 */
export function isComparisonOnly(run: RunRecord): boolean {
  return run.spec.target === "no-op" && run.spec.mode === "paced";
}

/** The matching no-op run: same keys, same mode (and so the same rate). */
export function ceilingFor(runs: RunRecord[], run: RunRecord): RunRecord | undefined {
  return runs.find(
    (r) =>
      r.spec.target === "no-op" &&
      r.spec.generator === run.spec.generator &&
      r.spec.keys === run.spec.keys &&
      r.spec.mode === run.spec.mode,
  );
}

function latencyCells(l: LatencySummary): string {
  return `${ms(l.p50Us)} | ${ms(l.p99Us)} | ${ms(l.p999Us)} | ${ms(l.maxUs)}`;
}

/** A disturbed window is not evidence either way: its figure is shown, but not judged. */
function verdict(pass: boolean | undefined, disturbed: boolean): string {
  if (pass === undefined) return "not measured";
  if (disturbed) return `not conclusive (${pass ? "would pass" : "would fail"}; disturbed †)`;
  return pass ? "**pass**" : "**FAIL**";
}

interface Targets {
  rows: string[];
  allPass: boolean;
}

function targets(report: BenchReport): Targets {
  const rows: string[] = [];
  let allPass = true;
  const add = (
    name: string,
    goal: string,
    measured: string,
    pass: boolean | undefined,
    disturbed = false,
  ) => {
    rows.push(`| ${name} | ${goal} | ${measured}${disturbed ? " †" : ""} | ${verdict(pass, disturbed)} |`);
    if (pass !== true || disturbed) allPass = false;
  };
  const service = report.runs.filter(
    (r) => r.spec.target === "service" && r.spec.generator === "bench" && !r.spec.variant,
  );
  for (const run of service.filter((r) => r.spec.mode === "closed")) {
    const ceiling = ceilingFor(report.runs, run);
    const ratio = ceiling ? run.generator.checksPerS / ceiling.generator.checksPerS : undefined;
    const valid = isValid(run) && ceiling !== undefined && isValid(ceiling);
    add(
      `throughput / no-op ceiling, ${run.spec.keys === "hot" ? "one hot key" : `${int(report.options.keys)} keys`}`,
      "≥ 0.6",
      ratio === undefined
        ? "–"
        : `${fixed(ratio, 3)} (${int(run.generator.checksPerS)} vs ${int(ceiling?.generator.checksPerS ?? 0)} checks/s)`,
      ratio === undefined || !valid ? undefined : ratio >= 0.6,
      isNoisy(run) || (ceiling !== undefined && isNoisy(ceiling)),
    );
  }
  quotaRows(report, add);
  // h2load's ratio is shown beside the verdict, not instead of it: it cannot check grpc-status.
  const crossCheck = report.runs.find((r) => r.spec.target === "service" && r.spec.generator === "h2load");
  const crossCeiling = crossCheck ? ceilingFor(report.runs, crossCheck) : undefined;
  if (crossCheck && crossCeiling) {
    rows.push(
      `| (cross-check) the same with h2load, one hot key | ≥ 0.6 | ${fixed(crossCheck.generator.checksPerS / crossCeiling.generator.checksPerS, 3)} ` +
        `(${int(crossCheck.generator.checksPerS)} vs ${int(crossCeiling.generator.checksPerS)} checks/s)` +
        `${isNoisy(crossCheck) || isNoisy(crossCeiling) ? " †" : ""} | for comparison |`,
    );
  }
  const paced = service.find((r) => r.spec.mode === "paced");
  if (paced) {
    const fromSchedule = paced.generator.latencyFromSchedule;
    const behind = fellBehind(paced);
    add(
      `p99 at half the max rate over ${int(report.options.keys)} keys (${int(paced.spec.rate)} checks/s, paced)`,
      "≤ 5 ms",
      (behind
        ? `not sustained: ${int(paced.generator.failures.skipped)} sends skipped at the in-flight cap; of the answered, `
        : "") +
        `${ms(paced.generator.latency.p99Us)} ms from send` +
        (fromSchedule ? `; ${ms(fromSchedule.p99Us)} ms from the scheduled time` : ""),
      behind ? false : isValid(paced) ? paced.generator.latency.p99Us <= 5_000 : undefined,
      isNoisy(paced),
    );
  } else {
    add("p99 at half the max rate", "≤ 5 ms", "–", undefined);
  }
  // The check path touches Postgres only on a cache miss; stale entries are answered from the cache
  // and refreshed behind the answer, and counts are flushed on a timer, neither per check.
  let misses = 0;
  let lookups = 0;
  let statements = 0;
  let checks = 0;
  for (const run of service) {
    misses += run.service?.cache.miss ?? 0;
    lookups += run.service?.keyStoreQueries ?? 0;
    statements += run.pg ? totalStatements(run.pg) : 0;
    checks += run.generator.checks;
  }
  const ttlS = report.serviceSettings.keyCacheTtlS;
  const maxRate = Math.max(
    0,
    ...service
      .filter((r) => r.spec.mode === "closed" && r.spec.generator === "bench")
      .map((r) => r.generator.checksPerS),
  );
  add(
    "Postgres queries per check, steady state",
    "0",
    `${int(misses)} checks of ${int(checks)} waited on Postgres (cache misses); in the background ` +
      `${perCheck(lookups, checks)} key refreshes and ${perCheck(statements, checks)} statements of any kind per check. ` +
      `Outside the windows each in-use key is re-read once per KEY_CACHE_TTL (${fixed(ttlS, 0)} s): ` +
      `${perCheck(report.options.keys / ttlS, maxRate)} ` +
      `per check with all ${int(report.options.keys)} keys in use at ${int(maxRate)}/s (see Postgres)`,
    checks > 0 ? misses === 0 && statements / checks < 0.01 : undefined,
  );
  const sampleChecks = report.redisSamples.reduce((n, s) => n + s.checks, 0);
  const roundTrips = report.redisSamples.reduce((n, s) => n + s.counts.serviceRoundTrips, 0);
  add(
    "Redis round trips per check",
    "≤ 1",
    sampleChecks > 0
      ? `${perCheck(roundTrips, sampleChecks)} (MONITOR sample of ${int(sampleChecks)} checks)`
      : "–",
    sampleChecks > 0 ? roundTrips / sampleChecks <= 1 : undefined,
  );
  return { rows, allPass };
}

type AddRow = (
  name: string,
  goal: string,
  measured: string,
  pass: boolean | undefined,
  disturbed?: boolean,
) => void;

/**
 * Every key on a plan with a monthly quota and a route cost of 3, against the usual keys in the same
 * service process, the runs alternated (run.ts, QUOTA_ORDER): the ratio of the two sides' sums (a
 * steady drift of the machine's speed cancels out), and every run in order so the noise shows.
 */
function quotaRows(report: BenchReport, add: AddRow): void {
  const quotas = report.runs.filter((r) => r.spec.variant === "quota");
  const plains = report.runs.filter((r) => r.spec.variant === "plain");
  const quota = quotas[0];
  if (!quota || quotas.length !== plains.length) {
    add("throughput with every key on a quota plan, cost 3 / without", "≥ 0.9", "–", undefined);
    return;
  }
  const rate = (runs: RunRecord[]) => runs.reduce((sum, r) => sum + r.generator.checksPerS, 0) / runs.length;
  const ratio = rate(quotas) / rate(plains);
  const all = [...quotas, ...plains];
  const inOrder = report.runs
    .filter((r) => r.spec.variant !== undefined)
    .map((r) => `${r.spec.variant === "quota" ? "with" : "without"} ${int(r.generator.checksPerS)}`)
    .join(", ");
  add(
    "throughput with every key on a quota plan, cost 3 / without (same run)",
    "≥ 0.9",
    `${fixed(ratio, 3)} (${int(rate(quotas))} vs ${int(rate(plains))} checks/s; runs in order: ${inOrder})`,
    all.every(isValid) ? ratio >= 0.9 : undefined,
    all.some(isNoisy),
  );
  const misses = quota.service?.cache.miss ?? 0;
  const statements = quota.pg ? totalStatements(quota.pg) : 0;
  add(
    "Postgres queries per check with quotas, steady state",
    "0",
    `${int(misses)} checks of ${int(quota.generator.checks)} waited on Postgres; ` +
      `${perCheck(statements, quota.generator.checks)} statements of any kind per check in the window ` +
      `(each user's quota counter was built from Postgres once, in the prewarm pass)`,
    quota.generator.checks > 0 ? misses === 0 && statements / quota.generator.checks < 0.01 : undefined,
  );
  const sample = report.redisSamples.find((s) => s.variant === "quota");
  add(
    "Redis round trips per check with quotas",
    "≤ 1",
    sample && sample.checks > 0
      ? `${perCheck(sample.counts.serviceRoundTrips, sample.checks)} (MONITOR sample of ${int(sample.checks)} checks)`
      : "–",
    sample && sample.checks > 0 ? sample.counts.serviceRoundTrips / sample.checks <= 1 : undefined,
  );
}

function topCalls(calls: Record<string, number>, checks: number, limit = 6): string {
  const entries = Object.entries(calls).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return "–";
  return entries
    .slice(0, limit)
    .map(([name, n]) => `${name} ${perCheck(n, checks)}`)
    .join(", ");
}

const INTRO = `Every request through Envoy waits for one ext_authz \`Check\` call to api-key-service, so the
cost and latency of that call bound the whole gateway. This file records what one machine measured
for it. It is written by \`pnpm bench:authz\` (\`bench/authz/run.ts\`); run it again to refresh the
figures rather than editing them by hand.

The benchmark starts the service (\`node --import tsx api-key-service/src/run.ts\`) against the local
Postgres and Redis, seeds keys straight into a fresh database, and drives \`Check\` over gRPC from a
separate generator process. The same generator then drives a no-op gRPC server (grpc-js, the same
service definition, answering OK at once): the ceiling the issue sets, the most this machine, Node and
grpc-js allow. The service itself no longer runs on grpc-js: it answers gRPC with \`packages/h2-grpc\`,
HTTP/2 read and written on the socket (see below), whose own cost per call is a small fraction of
grpc-js's, so the service can pass the ceiling and a ratio above 1 is possible.

The last sections compare the check's tail with a floor: nghttpd, an HTTP/2 server in C answering a fixed
CheckResponse, our own no-op \`H2GrpcServer\`, and the same no-op asking Redis a \`PING\` per call, all
paced by h2load at the same rates in the same run.

The billing sidecar's figures (access-log ingest into Postgres, Stripe delivery) are in
[PERFORMANCE-BILLING.md](PERFORMANCE-BILLING.md), written by \`pnpm bench:billing\`.`;

/**
 * What profiling found about where a check's time goes: written by hand in docs/PERFORMANCE.md
 * between these markers, dated there, and carried over by every rewrite of the file.
 */
export const FINDINGS_SECTION = new DocSection("bench:authz:findings");

export function renderReport(report: BenchReport): string {
  const { machine, options, runs } = report;
  const out: string[] = [];
  const push = (...lines: string[]) => out.push(...lines);
  push("# Performance: the ext_authz Check", "", INTRO, "");
  push(
    `Measured ${report.startedAt.toISOString().replace(/\.\d+Z$/, "Z")} at commit \`${machine.commit}\` ` +
      `(the working tree may have held uncommitted changes) on ${machine.cpus} × ${machine.cpuModel}, ` +
      `Node ${machine.node}; the whole benchmark took ${int(report.wallS)} s.`,
    "",
  );

  const t = targets(report);
  push("## Targets", "", "| target | goal | measured | result |", "| --- | --- | --- | --- |", ...t.rows, "");
  if (report.runs.some(isNoisy)) {
    push(
      `† Other processes used more than ${NOISY_CORES} of a core during that window (see the CPU table): the ` +
        "figure is disturbed, so it is shown but not judged; rerun on a quiet machine for a verdict. On two cores " +
        "even less outside work moves these figures: between runs here, ceilings varied by a quarter.",
      "",
    );
  }
  const findings = FINDINGS_SECTION.kept(options.output);
  if (findings) push(findings, "");

  push(
    "## Runs",
    "",
    `Each run: ${options.warmupS} s warm-up, then ${options.durationS} s measured; ${options.connections} HTTP/2 connections. ` +
      "Latency is from handing the request to the socket to the end of the response (trailers). " +
      "A run with any failure is not a valid figure, but for a paced run that fell behind: it answered everything it was sent, too slowly for the schedule, so sends were skipped at the in-flight cap; that is its measured outcome (the rate was not sustained), and its target fails. † marks a window in which other processes on the machine " +
      `used more than ${NOISY_CORES} of a core on average (see "other CPU" below): its figures are disturbed.`,
    "",
    "| run | load | checks/s | p50 ms | p99 ms | p99.9 ms | max ms | vs no-op | failures | Postgres stmts/check | Redis cmds/check | Redis reads/check |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |",
  );
  for (const run of runs) {
    const ceiling = run.spec.target === "service" ? ceilingFor(runs, run) : undefined;
    const checks = run.generator.checks;
    push(
      `| ${runLabel(run.spec)} | ${describeLoad(run)} | ${int(run.generator.checksPerS)}${isNoisy(run) ? " †" : ""} | ${latencyCells(run.generator.latency)} | ` +
        `${ceiling ? fixed(run.generator.checksPerS / ceiling.generator.checksPerS) : "–"} | ${failuresOf(run)} | ` +
        `${run.pg ? perCheck(totalStatements(run.pg), checks) : "–"} | ${perCheck(run.redis.commands, checks)} | ` +
        `${perCheck(run.redis.reads, checks)} |`,
    );
  }
  const paced = runs.filter((r) => r.spec.mode === "paced" && r.generator.latencyFromSchedule);
  if (paced.length > 0) {
    push(
      "",
      "Paced runs, latency measured from each request's scheduled time instead (this adds the generator's own " +
        "lateness: Node timers tick about once a millisecond, so requests leave in small bursts):",
      "",
      "| run | p50 ms | p99 ms | p99.9 ms | max ms |",
      "| --- | ---: | ---: | ---: | ---: |",
    );
    for (const run of paced) {
      const l = run.generator.latencyFromSchedule;
      if (l) push(`| ${runLabel(run.spec)} | ${latencyCells(l)} |`);
    }
  }
  const counted = runs.filter((r) => r.service);
  if (counted.length > 0) {
    push(
      "",
      "What the service itself counted over each window (`authz_checks_total`), next to the answers the generator " +
        "accepted. The two are read a few milliseconds apart, so they differ by the checks in flight. This is the " +
        "only check on the h2load rows, since h2load reads HTTP status but not `grpc-status`. The last two " +
        "columns are the service's event-loop delay over the window (`monitorEventLoopDelay`): how long a " +
        "ready callback waited for the loop, the floor under every check's latency:",
      "",
      "| run | OK answers | service: allowed | service: denied | loop delay p99 ms | loop delay max ms |",
      "| --- | ---: | ---: | ---: | ---: | ---: |",
    );
    for (const run of counted) {
      let allowed = 0;
      let denied = 0;
      for (const [series, n] of Object.entries(run.service?.checks ?? {})) {
        if (series.includes('outcome="allowed"')) allowed += n;
        else denied += n;
      }
      const lag = run.service?.eventLoopDelay;
      push(
        `| ${runLabel(run.spec)} | ${int(run.generator.checks)} | ${int(allowed)} | ${int(denied)} | ` +
          `${lag ? fixed(lag.p99Ms, 1) : "–"} | ${lag ? fixed(lag.maxMs, 1) : "–"} |`,
      );
    }
  }
  push("");

  push(
    "## CPU: generator vs. server",
    "",
    "CPU seconds over the measured window, all from `/proc/<pid>/stat` (utime + stime, every thread) " +
      "for the generator and the server, `INFO cpu` for Redis, and `/proc/stat` for the whole machine " +
      `(${machine.cpus} cores, so at most ${machine.cpus} s of CPU per second). Postgres is every \`postgres\` ` +
      "process (the server is shared, so other users' queries count too). \"Other\" is the machine's busy time " +
      "charged to none of these: the kernel, the orchestrator and its Postgres relay, anything else running.",
    "",
    "| run | window s | generator CPU s | server CPU s | server / generator | generator µs/check | server µs/check | Redis CPU s | Postgres CPU s | other CPU s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const run of runs) {
    const checks = run.generator.checks;
    const other = otherCpu(run);
    push(
      `| ${runLabel(run.spec)} | ${fixed(run.windowS, 1)} | ${fixed(run.cpu.generator)} | ${fixed(run.cpu.server)} | ` +
        `${run.cpu.generator > 0 ? `${fixed(run.cpu.server / run.cpu.generator, 1)}×` : "–"} | ` +
        `${checks > 0 ? fixed((run.cpu.generator / checks) * 1e6, 1) : "–"} | ${checks > 0 ? fixed((run.cpu.server / checks) * 1e6, 1) : "–"} | ` +
        `${fixed(run.cpu.redis)} | ${fixed(run.cpu.postgres)} | ${fixed(other)}${isNoisy(run) ? " †" : ""} |`,
    );
  }
  push("");

  push("## Postgres", "");
  push(
    "The service reaches Postgres through a relay in the benchmark process that reads the client side of the wire " +
      "protocol: every simple query (`Q`) and every execution (`E`) of a parsed statement is counted under the " +
      "statement's verb and table. The count is exact at any instant, unlike `pg_stat_database`, which backends update " +
      "at most once a second and up to 10 s late when idle (`pg_stat_statements` is not loaded on this server). " +
      "`key_store_queries_total` and `key_cache_lookups_total` are the service's own metrics.",
    "",
    "| run | statements in the window | per check | per second | key lookups (metric) | cache hit | stale (refreshed behind) | miss (waited) |",
    "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  const service = runs.filter((r) => r.spec.target === "service");
  for (const run of service) {
    const statements = run.pg ? totalStatements(run.pg) : 0;
    const kinds = run.pg ? Object.entries(run.pg.statements).map(([kind, n]) => `${kind} ${int(n)}`) : [];
    const cache = run.service?.cache ?? {};
    const lookups = run.service?.keyStoreQueries;
    push(
      `| ${runLabel(run.spec)} | ${kinds.length > 0 ? kinds.join(", ") : "none"} | ${perCheck(statements, run.generator.checks)} | ` +
        `${fixed(statements / run.windowS, 1)} | ${lookups === undefined ? "(no metric)" : int(lookups)} | ` +
        `${int(cache.hit ?? 0)} | ${int(cache.stale ?? 0)} | ${int(cache.miss ?? 0)} |`,
    );
  }
  const prewarmed = service.filter((r) => r.prewarm);
  if (prewarmed.length > 0) {
    push(
      "",
      "Each spread run starts right after one unmeasured pass over every key, so its window sees the cache's steady " +
        "state: every key cached and fresh. The passes themselves:",
      "",
    );
    for (const run of prewarmed) {
      const p = run.prewarm;
      if (!p) continue;
      const kinds = Object.entries(p.statements).map(([kind, n]) => `${kind} ${int(n)}`);
      push(
        `- before ${runLabel(run.spec)}: ${int(p.checks)} checks at ${p.concurrency} in flight in ${fixed(p.seconds, 1)} s; ` +
          `Postgres: ${kinds.length > 0 ? kinds.join(", ") : "nothing"}; ${failureCount(p.failures)} failures` +
          (p.failures.examples.length > 0 ? ` (e.g. ${p.failures.examples[0]})` : ""),
      );
    }
  }
  const ttlS = report.serviceSettings.keyCacheTtlS;
  const maxRate = Math.max(
    0,
    ...service
      .filter((r) => r.spec.mode === "closed" && r.spec.generator === "bench")
      .map((r) => r.generator.checksPerS),
  );
  push(
    "",
    `Not in any window: a cached key is re-read once per \`KEY_CACHE_TTL\` (${fixed(ttlS, 0)} s here) while it is in use, ` +
      `behind an answer served from the cache. With all ${int(options.keys)} keys in use that is ` +
      `${fixed(options.keys / ttlS, 0)} lookups/s, ${perCheck(options.keys / ttlS, maxRate)} per check at the highest rate measured here ` +
      `(${int(maxRate)}/s); proportionally less with fewer active keys or a longer TTL. The remaining statements are the ` +
      `usage counts, flushed in batches once per \`AUTHZ_FLUSH_INTERVAL\` (${fixed(report.serviceSettings.flushIntervalS, 0)} s here) whatever the rate.`,
  );
  const cold = runs.flatMap((r) => (failureCount(r.generator.outsideWindowFailures) > 0 ? [r] : []));
  for (const run of cold) {
    const f = run.generator.outsideWindowFailures;
    push(
      "",
      `Outside the window of ${runLabel(run.spec)} (warm-up or drain): ${int(failureCount(f))} failures, e.g. ${f.examples.join("; ")}.`,
    );
  }
  if (report.pgTotals) {
    push(
      "",
      `Over the service's whole life (start-up and migrations included) the relay counted ${int(report.pgTotals.statements)} ` +
        `statements, and \`pg_stat_database.xact_commit\` for the bench database grew by ${int(report.pgTotals.xactCommit)} ` +
        "(transactions, including the benchmark's own migration and seeding; read after the service exited, when no " +
        "backend still holds unreported counts).",
    );
  }
  push("");

  push("## Redis", "");
  push(
    "`INFO stats` and `INFO commandstats` deltas over each measured window. `total_commands_processed` also counts the " +
      "commands a Lua script runs, so it overstates round trips; `total_reads_processed` counts read events on client " +
      "sockets, i.e. request batches as they arrived (several checks' commands can share one). Both are server-wide: " +
      "the no-op runs, where the service sits idle, show the background (the service's own timers, pub/sub and any " +
      "other client of this shared Redis).",
    "",
    "| run | commands/check | reads/check | commands/s | top commands per check |",
    "| --- | ---: | ---: | ---: | --- |",
  );
  for (const run of runs) {
    push(
      `| ${runLabel(run.spec)} | ${perCheck(run.redis.commands, run.generator.checks)} | ${perCheck(run.redis.reads, run.generator.checks)} | ` +
        `${int(run.redis.commands / run.windowS)} | ${topCalls(run.redis.calls, run.generator.checks)} |`,
    );
  }
  if (report.redisSamples.length > 0) {
    push(
      "",
      "Round trips come from a separate short sample with `MONITOR`, which names the client of every command: " +
        "commands from the service's own connections (found through `/proc/<pid>/fd`) are requests it sent, " +
        "commands shown as run by `lua` happened inside a script and cost no round trip. A `MULTI` … `EXEC` block " +
        "counts once; other pipelining would be counted per command, so this is an upper bound. MONITOR slows " +
        "Redis, so it never runs during a measured window.",
      "",
      "| sample | checks | round trips/check | service commands per check | inside scripts per check | other clients' commands |",
      "| --- | ---: | ---: | --- | --- | ---: |",
    );
    for (const s of report.redisSamples) {
      push(
        `| ${s.keys === "hot" ? "hot key" : "spread keys"}, paced ${int(s.rate)}/s | ${int(s.checks)} | ` +
          `${perCheck(s.counts.serviceRoundTrips, s.checks)} | ${topCalls(s.counts.service, s.checks)} | ` +
          `${topCalls(s.counts.scripts, s.checks)} | ${int(s.counts.others)} |`,
      );
    }
  }
  push("");

  push(
    "## Machine",
    "",
    `- CPU: ${machine.cpus} × ${machine.cpuModel} (\`nproc\` ${machine.cpus}), ${machine.memoryGiB} GiB memory`,
    `- ${machine.kernel}; Node ${machine.node}; PostgreSQL ${machine.postgres}; Redis ${machine.redis}`,
    `- before the run: load average ${machine.loadBefore}; other processes busy on ${fixed(machine.busyBefore)} cores` +
      (machine.busyBefore > BUSY_WARNING ? " (**a busy machine: expect noisy figures**)" : ""),
    ...(machine.damonSampleMs === undefined
      ? []
      : [
          `- the kernel's memory-access monitor DAMON was on, sampling every ${int(machine.damonSampleMs)} ms: its ` +
            `kdamond thread used ${fixed((report.kdamondCpuS * 1000) / report.wallS)} ms of CPU per second over the ` +
            "benchmark, in bursts (see Where a check's time goes)",
        ]),
    `- date: ${report.startedAt.toISOString()}`,
    "",
  );

  push(
    "## How it was measured",
    "",
    `- **Keys.** ${int(options.keys)} keys (\`KeyFormat("gw").generate()\`, stored as \`hashKey(key)\`) over 100 users, ` +
      "inserted with multi-row INSERTs into a new database `bench_<random>` migrated with `@gateway/db`; limits of " +
      "1,000,000,000 per minute and per day so no check is rate limited. The database is dropped at the end and the " +
      "run's Redis keys (its own `REDIS_KEY_PREFIX`) deleted.",
    "- **Requests.** Each key's `CheckRequest` is what Envoy sends for `GET /v1/things` with the key as a bearer " +
      "token, serialised with `loadEnvoyServices()` from `@gateway/proto` and gRPC-framed once before the run. " +
      "The hot runs send the first key's body every time; the spread runs take the next key round-robin.",
    "- **Generator.** `bench/authz/generator.ts`, its own process, speaking HTTP/2 straight to a TCP socket " +
      "(`h2-wire.ts`, with the HPACK code of `packages/h2-grpc`). A call is the key's pre-built DATA frame behind a HEADERS frame that, as " +
      "Envoy's client does, enters the fixed request headers into HPACK's dynamic table on a connection's first " +
      "call and refers to them by index afterwards, except `:path`, which nghttp2 never indexes and sends " +
      "Huffman-coded on every call; stream ids are patched in, and all calls due in one event-loop " +
      "turn leave in one write. node:http2 was tried first and spent as much CPU per call as the grpc-js server " +
      "answering it; a grpc-js client is heavier still. Every response is checked: HTTP status 200, " +
      "`grpc-status: 0`, and `CheckResponse.status.code` 0 read off the protobuf wire; one in 1,024 is also " +
      "decoded with grpc-js's deserialiser, and each target is first probed through node:http2, an independent " +
      "HTTP/2 implementation, with the first key and 20 others.",
    `- **Load.** Closed loop: ${options.concurrency} calls always in flight. Paced: a fixed schedule at half the ` +
      `highest rate the service reached in the closed-loop runs, spread keys, open loop (the schedule never waits for ` +
      `answers; at most ${int(options.pacedCap)} in flight, beyond which a send is counted as skipped).`,
    "- **Ceiling.** `bench/authz/noop-server.ts`: grpc-js, the same service definition and the server options the " +
      "service used when it ran on grpc-js, answers `{status:{code:0}}` at once. Each service run is followed by the same generator settings " +
      "against it.",
    `- **Cross-check.** ${
      report.h2load.version
        ? `${report.h2load.version} (${report.h2load.note}) drove the hot-key max-rate runs a second time, against the service and the ceiling, with the same connections and streams in flight and the same request body; its rows are marked (h2load). It cannot walk the keys (one body per run) and does not read \`grpc-status\`.`
        : `h2load was not used: ${report.h2load.note}.`
    }`,
    `- **A shared machine.** Before each run the benchmark waits, while its own processes sit idle, until other ` +
      `processes use less than ${BUSY_WARNING} of a core (at most ${report.quietWait.budgetS} s over the whole ` +
      `benchmark; this run waited ${fixed(report.quietWait.waitedS, 0)} s), and measures a run once more when other ` +
      `processes took more than ${NOISY_CORES} of a core during its window, keeping the quieter window (at most ` +
      `${report.retries.budget} runs in all; this time ${report.retries.used}). Work that starts during a window ` +
      'still lands in it: the † marks and the "other CPU" column show where.',
    "- **Snapshots.** CPU, Redis INFO, the Postgres relay and the service's `/metrics` are read when the generator " +
      "reports the end of warm-up and again at the end of the window.",
    "",
  );

  push(
    "## Reproduce",
    "",
    "```sh",
    "pnpm install",
    "pnpm bench:authz                    # about 11 minutes; rewrites docs/PERFORMANCE.md",
    "pnpm bench:authz --only tail        # about 4 minutes; rewrites the tail section only",
    "pnpm bench:authz --only cold-start  # about 1.5 minutes; prints its figures, writes no file",
    "```",
    "",
    "It needs Postgres on 127.0.0.1:5432 (user `postgres`, a database `test` to connect to, rights to create " +
      "databases) and Redis on 127.0.0.1:6379, and refuses any non-loopback address. Settings, all optional: " +
      "`BENCH_DURATION_S` (measured seconds per run, default 20), `BENCH_WARMUP_S` (5), `BENCH_CONCURRENCY` (64), " +
      "`BENCH_CONNECTIONS` (4), `BENCH_KEYS` (10000), `BENCH_PG_URL`, `BENCH_REDIS_URL`, `BENCH_OUTPUT` " +
      "(`docs/PERFORMANCE.md`), `BENCH_H2LOAD=0` (skip the h2load cross-check), `BENCH_SERVICE_NODE_ARGS` " +
      "(extra Node flags for the service only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` or `--trace-gc`), " +
      "`BENCH_COLD_RATE` (the cold start's checks a second, 10000). When `h2load` is missing and the " +
      "benchmark runs as root, it installs Debian's `nghttp2-client` with apt-get and says so; likewise " +
      "`nghttpd` (`nghttp2-server`) for the floor of the tail section. Close other " +
      'CPU-heavy work first: on a small machine it shows up in every figure (see "other CPU" above).',
    "",
    `This run used: ${options.durationS} s measured, ${options.warmupS} s warm-up, ${options.concurrency} in flight, ` +
      `${options.connections} connections, ${int(options.keys)} keys; seeding took ${fixed(report.seedS, 1)} s.`,
    "",
  );
  // `--only tail` and `pnpm bench:verify` own delimited sections of the same file: keep them as they stand.
  for (const section of [TAIL_SECTION, VERIFY_SECTION]) {
    const kept = section.kept(options.output);
    if (kept) push(kept, "");
  }
  // So does `pnpm bench:forward-auth`.
  const forwardAuthSection = FORWARD_AUTH_SECTION.kept(options.output);
  if (forwardAuthSection) push(forwardAuthSection, "");
  return out.join("\n");
}

/** The targets table as Markdown rows, and whether every target was met. */
export function targetSummary(report: BenchReport): Targets {
  return targets(report);
}
