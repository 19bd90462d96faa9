import { DocSection, type LatencySummary, type MachineInfo } from "@gateway/harness";
import { NOISY_CORES } from "../authz/results.js";
import type { CpuShare } from "./cpu.js";
import type { VerifyOptions } from "./options.js";
import { LATE_MS } from "./pacing.js";
import { badOutcomes, type PhaseResult } from "./protocol.js";

/** bench:verify owns this block of docs/PERFORMANCE.md; bench:authz writes the rest and carries it over. */
export const VERIFY_SECTION = new DocSection("bench:verify");

/** The service's event-loop lag over a phase (delay beyond the monitor's interval), from its own /metrics. */
export interface LoopDelay {
  p99Ms: number;
  maxMs: number;
}

export interface PhaseRecord {
  result: PhaseResult;
  cpu: CpuShare;
  /** The service only; the floor has no /metrics. */
  loopDelay: LoopDelay | undefined;
}

export interface VerifyReport {
  startedAt: Date;
  wallS: number;
  machine: MachineInfo;
  options: VerifyOptions;
  seedS: number;
  /** The service's answer to the probe, which the floor sends back verbatim. */
  answerBytes: number;
  service: PhaseRecord[];
  floor: PhaseRecord[];
  /** Lines the service logged at warn or above during the benchmark. */
  serviceLogLines: number;
}

const COMMAND = "pnpm bench:verify";
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (us: number) => (us / 1000).toFixed(2);
const signedMs = (us: number) => `${us >= 0 ? "+" : "−"}${ms(Math.abs(us))} ms`;

function phase(records: PhaseRecord[], name: PhaseResult["name"]): PhaseRecord {
  const found = records.find((r) => r.result.name === name);
  if (!found) throw new Error(`no ${name} phase in the results`);
  return found;
}

const rateOf = (r: PhaseResult) => (r.durationS > 0 ? r.responses / r.durationS : 0);
const isNoisy = (p: PhaseRecord) => p.cpu.other > NOISY_CORES;

function outcomesText(records: PhaseRecord[]): string {
  const bad: Record<string, number> = {};
  for (const { result } of records) {
    for (const [outcome, n] of Object.entries(result.outcomes)) {
      if (outcome !== "valid") bad[outcome] = (bad[outcome] ?? 0) + n;
    }
    if (result.errors > 0) bad["connection errors"] = (bad["connection errors"] ?? 0) + result.errors;
    if (result.timeouts > 0) bad.timeouts = (bad.timeouts ?? 0) + result.timeouts;
  }
  const parts = Object.entries(bad).map(([outcome, n]) => `${int(n)} × ${outcome}`);
  const total = records.reduce((n, r) => n + r.result.responses, 0);
  return parts.length === 0 ? `0 of ${int(total)}` : `**${parts.join(", ")}** of ${int(total)}`;
}

function loopText(p: PhaseRecord): string {
  return p.loopDelay ? `${p.loopDelay.p99Ms.toFixed(2)} / ${p.loopDelay.maxMs.toFixed(2)}` : "–";
}

function cpuText(p: PhaseRecord): string {
  const c = p.cpu;
  return `${c.server.toFixed(2)} / ${c.redis.toFixed(2)} / ${c.generator.toFixed(2)} / ${c.other.toFixed(2)}${isNoisy(p) ? " †" : ""}`;
}

/** Every answer of every phase, warm-up included, was a 200 with `valid: true`. */
export function allValid(report: VerifyReport): boolean {
  return [...report.service, ...report.floor].every((p) => badOutcomes(p.result) === 0);
}

/** The paced phase reached its rate within 1 %. */
export function sustained(records: PhaseRecord[], rate: number): boolean {
  return rateOf(phase(records, "paced").result) >= rate * 0.99;
}

/** The figures as Markdown table rows: one header, one separator, then a row per figure. */
export function summaryTable(report: VerifyReport): string[] {
  const { options } = report;
  const s = { closed: phase(report.service, "closed"), paced: phase(report.service, "paced") };
  const f = { closed: phase(report.floor, "closed"), paced: phase(report.floor, "paced") };
  const sRate = rateOf(s.closed.result);
  const fRate = rateOf(f.closed.result);
  const lat = (p: PhaseRecord, pick: (l: LatencySummary) => number) => ms(pick(p.result.latency));
  const diff = (pick: (l: LatencySummary) => number) =>
    signedMs(pick(s.paced.result.latency) - pick(f.paced.result.latency));
  const slot = (p: PhaseRecord) => `${ms(p.result.fromSlot?.p99Us ?? 0)} ms; ${int(p.result.lateSends)} late`;
  const paced = `paced ${int(options.rate)}/s`;
  return [
    "| | api-key-service | floor: bare node:http | service vs floor |",
    "| --- | ---: | ---: | --- |",
    `| closed loop, ${options.connections} connections: req/s | ${int(sRate)} | ${int(fRate)} | ${fRate > 0 ? (sRate / fRate).toFixed(3) : "–"} × |`,
    `| closed loop: p50 / p99 ms | ${lat(s.closed, (l) => l.p50Us)} / ${lat(s.closed, (l) => l.p99Us)} | ${lat(f.closed, (l) => l.p50Us)} / ${lat(f.closed, (l) => l.p99Us)} | |`,
    `| ${paced}: achieved req/s | ${rateOf(s.paced.result).toFixed(1)} | ${rateOf(f.paced.result).toFixed(1)} | |`,
    `| ${paced}: p50 ms | ${lat(s.paced, (l) => l.p50Us)} | ${lat(f.paced, (l) => l.p50Us)} | ${diff((l) => l.p50Us)} |`,
    `| ${paced}: p99 ms | ${lat(s.paced, (l) => l.p99Us)} | ${lat(f.paced, (l) => l.p99Us)} | ${diff((l) => l.p99Us)} |`,
    `| ${paced}: p99.9 ms | ${lat(s.paced, (l) => l.p999Us)} | ${lat(f.paced, (l) => l.p999Us)} | ${diff((l) => l.p999Us)} |`,
    `| ${paced}: max ms | ${lat(s.paced, (l) => l.maxUs)} | ${lat(f.paced, (l) => l.maxUs)} | |`,
    `| ${paced}: p99 from the scheduled slot; sends > ${LATE_MS} ms late | ${slot(s.paced)} | ${slot(f.paced)} | |`,
    `| ${paced}: the service's event-loop lag p99 / max ms (its /metrics, beyond the 10 ms sampling interval) | ${loopText(s.paced)} | | |`,
    `| answers other than 200 + \`valid: true\`, all phases | ${outcomesText(report.service)} | ${outcomesText(report.floor)} | |`,
    `| CPU cores, closed loop: server / Redis / generator / other | ${cpuText(s.closed)} | ${cpuText(f.closed)} | |`,
    `| CPU cores, ${paced}: server / Redis / generator / other | ${cpuText(s.paced)} | ${cpuText(f.paced)} | |`,
  ];
}

export function renderSection(report: VerifyReport): string {
  const { machine, options } = report;
  const out: string[] = [VERIFY_SECTION.start, "## The verify API", ""];
  const push = (...lines: string[]) => out.push(...lines);
  push(
    "`POST /v1/keys/verify` on the management HTTP port answers, as JSON, the decision Envoy's ext_authz " +
      "`Check` gets: the key through the in-process cache, then one Redis script call for its limits. This " +
      `section is written by \`${COMMAND}\` (\`bench/verify/run.ts\`); \`pnpm bench:authz\` carries it over ` +
      "when it rewrites the rest of this file.",
    "",
    `Measured ${report.startedAt.toISOString().replace(/\.\d+Z$/, "Z")} at commit \`${machine.commit}\` ` +
      `(the working tree may have held uncommitted changes) on ${machine.cpus} × ${machine.cpuModel}, ` +
      `Node ${machine.node}, Redis ${machine.redis}, Postgres ${machine.postgres}; the whole benchmark took ${int(report.wallS)} s.`,
    "",
    ...summaryTable(report),
    "",
  );
  const noisy = [...report.service, ...report.floor].some((p) => p.result.name !== "warm-up" && isNoisy(p));
  if (noisy) {
    push(
      `† Processes other than the server, Redis and the generator used more than ${NOISY_CORES} of a core in that ` +
        "window: its figures are disturbed.",
      "",
    );
  }
  if (!sustained(report.service, options.rate) || !sustained(report.floor, options.rate)) {
    push(
      `A paced run fell more than 1 % short of ${int(options.rate)}/s: its latencies are not those of that rate.`,
      "",
    );
  }
  if (machine.damonSampleMs !== undefined) {
    push(
      `The kernel's memory-access monitor DAMON was on, sampling every ${machine.damonSampleMs} ms: its bursts ` +
        "take one of the cores for tens of milliseconds twice a second, which shows in every tail here (see " +
        '"Where a check\'s time goes" above).',
      "",
    );
  }
  if (report.serviceLogLines > 0) {
    push(
      `The service logged ${int(report.serviceLogLines)} lines at warn or above during the benchmark.`,
      "",
    );
  }
  push(
    "How it was measured:",
    "",
    `- **Keys.** ${int(options.keys)} keys seeded straight into a fresh database (\`bench/authz/database.ts\`), limits ` +
      "of 1,000,000,000 a minute and a day so nothing is refused. The service runs from the working tree " +
      "(`node --import tsx api-key-service/src/run.ts`, LOG_LEVEL=warn) against the local Postgres and Redis; " +
      "the database and the run's Redis keys are removed at the end.",
    `- **Requests.** Each is \`{"key":"<secret>"}\` with the admin token (so \`consume\` is true, cost 1, no scopes ` +
      `required): every answer counts against its key's limits, as a check does. Each of the ${options.connections} ` +
      "HTTP/1.1 keep-alive connections walks all the keys in turn from its own offset, so the keys in flight at " +
      "any moment are spread evenly. Every answer is read: a 200 counts as valid only with `valid: true` and " +
      "`code: VALID`.",
    "- **Generator.** autocannon 9 (its raw-socket HTTP/1.1 client) in its own process, one per target, running " +
      `${options.warmupS} s of closed-loop warm-up (not reported), ${options.closedS} s closed loop (one request in ` +
      `flight per connection, as fast as answers come) and ${options.pacedS} s paced. Latency is from writing the ` +
      "request to the last byte of the answer, recorded in microseconds (autocannon's own histogram keeps whole " +
      "milliseconds).",
    `- **Pacing.** ${int(options.rate)} requests a second on an even schedule: connection i sends at i/${int(options.rate)} s ` +
      `and then every ${options.connections}/${int(options.rate)} s, installed through autocannon's \`setupClient\` ` +
      "(`bench/verify/pacing.ts`). autocannon's own `overallRate` was not used: it gives each connection a budget " +
      "per one-second window that it spends back to back at the top of each second, so latency would be that of " +
      "bursts of closed-loop load; and its coordinated-omission correction assumes a 1 ms interval at any rate, " +
      "adding synthetic samples. A connection whose answer comes after its next slot sends at once and that send " +
      `counts as late; the "from the scheduled slot" p99 includes that wait and the timer's own ~1 ms granularity.`,
    "- **Floor.** `bench/verify/floor-server.ts`: a `node:http` server in its own process that reads each body and " +
      `answers 200 with the service's own answer to the first key (${int(report.answerBytes)} bytes), at once. It is ` +
      "what Node's HTTP stack costs with no routing, authentication, validation, lookup or Redis; the same " +
      "generator settings drive it right after the service.",
    `- **CPU.** From /proc over each window: the server (the service or the floor), every \`redis-server\` process, ` +
      `the generator, and the rest of the machine. The service and the generator share ${machine.cpus} cores, so ` +
      "in the closed loop the generator's share is taken from what the service could use.",
    "",
    "Reproduce:",
    "",
    "```sh",
    `${COMMAND}          # about 1.5 minutes; replaces this section only`,
    "```",
    "",
    "Settings, all optional: `BENCH_VERIFY_KEYS` (1000), `BENCH_VERIFY_CONNECTIONS` (10), `BENCH_VERIFY_RATE` " +
      "(1000), `BENCH_VERIFY_WARMUP_S` (5), `BENCH_VERIFY_CLOSED_S` (10), `BENCH_VERIFY_PACED_S` (20), and, shared " +
      "with `pnpm bench:authz`, `BENCH_PG_URL`, `BENCH_REDIS_URL`, `BENCH_OUTPUT` and `BENCH_SERVICE_NODE_ARGS`. " +
      `This run used ${int(options.keys)} keys and ${options.connections} connections; seeding took ${report.seedS.toFixed(1)} s.`,
    VERIFY_SECTION.end,
  );
  return out.join("\n");
}
