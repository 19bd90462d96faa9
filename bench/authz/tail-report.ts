/** The tail section of docs/PERFORMANCE.md, which `pnpm bench:authz --only tail` rewrites alone. */
import { DocSection, type MachineInfo } from "@gateway/harness";
import { FLOOR_WORKERS } from "./floor.js";
import { failureCount, NOISY_CORES } from "./results.js";
import {
  CLOSED_DURATION_S,
  PACED_STREAMS,
  TAIL_CONNECTIONS,
  TAIL_DURATION_S,
  TAIL_RATES,
  TAIL_WARMUP_S,
  type TailRun,
  type TailTarget,
} from "./tail.js";

export const TAIL_SECTION = new DocSection("bench:authz:tail");

/** Targets: at each rate, the service's p99 within 1 ms and p99.9 within 5 ms of the floor's. */
export const P99_MARGIN_MS = 1;
export const P999_MARGIN_MS = 5;
export const FLOOR_RATIO_TARGET = 0.4;

export interface TailReport {
  startedAt: Date;
  machine: MachineInfo;
  h2load: string;
  nghttpd: string;
  runs: TailRun[];
}

const ms = (us: number) => (us / 1000).toFixed(2);
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const signedMs = (us: number) => `${us >= 0 ? "+" : "−"}${ms(Math.abs(us))}`;

function find(runs: TailRun[], target: TailTarget, rate: number): TailRun | undefined {
  return runs.find((r) => r.target === target && r.rate === rate);
}

const valid = (run: TailRun | undefined): run is TailRun =>
  run !== undefined && run.checks > 0 && failureCount(run.failures) === 0;
const noisy = (run: TailRun) => run.cores.other > NOISY_CORES;
/** A paced run that answered less than 99 % of its rate fell behind: its latency is the backlog's. */
const sustained = (run: TailRun) => run.rate === 0 || run.checksPerS >= run.rate * 0.99;

export interface TailVerdict {
  rate: number;
  p99Over: number | undefined;
  p999Over: number | undefined;
  pass: boolean | undefined;
}

/** Per rate: how far the service's p99 and p99.9 are above the floor's, in µs, and whether the rate passes. */
export function tailVerdicts(runs: TailRun[]): TailVerdict[] {
  return TAIL_RATES.map((rate) => {
    const service = find(runs, "service", rate);
    const floor = find(runs, "floor", rate);
    if (!valid(service) || !valid(floor))
      return { rate, p99Over: undefined, p999Over: undefined, pass: undefined };
    const p99Over = service.latency.p99Us - floor.latency.p99Us;
    const p999Over = service.latency.p999Us - floor.latency.p999Us;
    return {
      rate,
      p99Over,
      p999Over,
      // Within both margins, and the service kept up with the rate (else the latency is a backlog's).
      pass: p99Over <= P99_MARGIN_MS * 1000 && p999Over <= P999_MARGIN_MS * 1000 && sustained(service),
    };
  });
}

/** Closed-loop throughput of the service over each other target's. */
export function closedRatios(runs: TailRun[]): Array<{ over: TailTarget; ratio: number | undefined }> {
  const service = find(runs, "service", 0);
  return (["floor", "h2 no-op + Redis", "h2 no-op", "grpc-js no-op"] as const).map((over) => {
    const other = find(runs, over, 0);
    return {
      over,
      ratio: valid(service) && valid(other) ? service.checksPerS / other.checksPerS : undefined,
    };
  });
}

export function renderTailSection(report: TailReport): string {
  const { machine, runs } = report;
  const out: string[] = ["## The tail against a floor", ""];
  out.push(
    "The check's latency read as a comparison with what any HTTP/2 server answers on the same machine in the " +
      "same run. **The floor** is nghttpd (nghttp2's server, in C) answering every Check with a static file " +
      "holding a gRPC-framed `CheckResponse{status{code:0}}` and the trailer `grpc-status: 0`, with " +
      `${FLOOR_WORKERS} worker thread (the service runs its checks on one event loop). **h2 no-op** is our own ` +
      "`H2GrpcServer` with a handler that answers at once (`bench/authz/noop-server.ts h2`): Node and the HTTP/2 " +
      "layer without the check. **h2 no-op + Redis** is that server asking Redis a `PING` before each answer, the " +
      "calls of one turn written together as the limiter writes its calls: the price of one round trip per check, " +
      "which the floor does not pay; the hot key's checks here are mostly admitted from a lease with none " +
      "(docs/AUTHZ.md), a key asked for less often pays it on every check. **grpc-js no-op** is the ceiling of " +
      "the tables above.",
    "",
    `h2load drives each with one hot key's request over ${TAIL_CONNECTIONS} connections: paced with \`--rps\` ` +
      `(the rate split over the connections; h2load sends each connection's share in small bursts about every ` +
      `10 ms, the same for every target) for ${TAIL_WARMUP_S} s of warm-up and ${TAIL_DURATION_S} s measured at each ` +
      `rate, up to ${PACED_STREAMS} streams in flight per connection; latency is h2load's own per request ` +
      "(`--log-file`: from sending the request to the end of the response), so the figures of all targets come " +
      `from the same client. Closed loop: ${CLOSED_DURATION_S} s each, for the throughput ratios. Targets: at each ` +
      `rate the service's p99 ≤ the floor's + ${P99_MARGIN_MS} ms and p99.9 ≤ the floor's + ${P999_MARGIN_MS} ms; ` +
      `throughput ≥ ${FLOOR_RATIO_TARGET} of the floor's.`,
    "",
    `Measured ${report.startedAt.toISOString().replace(/\.\d+Z$/, "Z")} at commit \`${machine.commit}\` ` +
      "(the working tree may have held uncommitted changes) on " +
      `${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, ${report.h2load}, ${report.nghttpd}. ` +
      "These figures move between runs on a shared two-core machine; compare rows of the same run.",
    "",
    "| rate | service p99 / p99.9 ms | floor p99 / p99.9 ms | h2 no-op p99 / p99.9 ms | h2 no-op + Redis p99 / p99.9 ms | service − floor p99 (≤ +1) | service − floor p99.9 (≤ +5) | result | service − (no-op + Redis) p99 / p99.9 |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |",
  );
  const pair = (run: TailRun | undefined) =>
    valid(run)
      ? `${ms(run.latency.p99Us)} / ${ms(run.latency.p999Us)}${sustained(run) ? "" : " ‡"}${noisy(run) ? " †" : ""}`
      : "invalid";
  for (const v of tailVerdicts(runs)) {
    const service = find(runs, "service", v.rate);
    const withRedis = find(runs, "h2 no-op + Redis", v.rate);
    const overRedis =
      valid(service) && valid(withRedis)
        ? `${signedMs(service.latency.p99Us - withRedis.latency.p99Us)} / ${signedMs(service.latency.p999Us - withRedis.latency.p999Us)}`
        : "–";
    out.push(
      `| ${int(v.rate)}/s | ${pair(service)} | ${pair(find(runs, "floor", v.rate))} | ` +
        `${pair(find(runs, "h2 no-op", v.rate))} | ${pair(withRedis)} | ${v.p99Over === undefined ? "–" : signedMs(v.p99Over)} | ` +
        `${v.p999Over === undefined ? "–" : signedMs(v.p999Over)} | ${v.pass === undefined ? "no figure" : v.pass ? "**pass**" : "**FAIL**"} | ${overRedis} |`,
    );
  }
  out.push(
    "",
    "Closed loop (h2load, one hot key):",
    "",
    "| target | checks/s | service / this |",
    "| --- | ---: | ---: |",
  );
  const ratios = new Map(closedRatios(runs).map((r) => [r.over, r.ratio]));
  for (const run of runs.filter((r) => r.rate === 0)) {
    const ratio = ratios.get(run.target);
    const goal = run.target === "floor" ? ` (target ≥ ${FLOOR_RATIO_TARGET})` : "";
    out.push(
      `| ${run.target} | ${valid(run) ? int(run.checksPerS) : "invalid"}${noisy(run) ? " †" : ""} | ` +
        `${ratio === undefined ? "–" : `${ratio.toFixed(3)}${goal}`} |`,
    );
  }
  out.push(
    "",
    "Every run: its rate, latency and the CPU each party used over the window (cores' worth, from /proc; " +
      `"other" is the rest of the machine, † over ${NOISY_CORES}: the window was disturbed).`,
    "",
    "| target | asked/s | answered/s | p50 ms | p99 ms | p99.9 ms | max ms | failures | server | h2load | Redis | other |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  );
  for (const run of runs) {
    const l = run.latency;
    const c = run.cores;
    out.push(
      `| ${run.target} | ${run.rate === 0 ? "closed" : int(run.rate)} | ${int(run.checksPerS)} | ${ms(l.p50Us)} | ` +
        `${ms(l.p99Us)} | ${ms(l.p999Us)} | ${ms(l.maxUs)} | ${failureCount(run.failures)} | ${c.server.toFixed(2)} | ` +
        `${c.generator.toFixed(2)} | ${c.redis.toFixed(2)} | ${c.other.toFixed(2)}${noisy(run) ? " †" : ""} |`,
    );
  }
  out.push("", "Only this section: `pnpm bench:authz --only tail` (about two minutes).");
  return TAIL_SECTION.wrap(out.join("\n"));
}
