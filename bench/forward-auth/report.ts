import { DocSection, type LatencySummary, type MachineInfo } from "@gateway/harness";
import { NOISY_CORES } from "../authz/results.js";
import type { LoadResult } from "./load.js";
import type { ForwardAuthOptions } from "./options.js";

/** bench:forward-auth owns this block of docs/PERFORMANCE.md; bench:authz writes the rest and carries it over. */
export const FORWARD_AUTH_SECTION = new DocSection("bench:forward-auth");

export interface ForwardAuthReport {
  startedAt: Date;
  wallS: number;
  machine: MachineInfo;
  options: ForwardAuthOptions;
  nginxVersion: string;
  h2loadVersion: string;
  endpoint: { closed: LoadResult; paced: LoadResult[] };
  floor: { closed: LoadResult; paced: LoadResult[] };
  endToEnd: { plain: LoadResult; authed: LoadResult };
  /** Checks the service counted as denied while the load ran (there should be none). */
  deniedDuringLoad: number;
  /** Lines the service logged at warn or above during the benchmark. */
  serviceLogLines: number;
}

const COMMAND = "pnpm bench:forward-auth";
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (us: number) => (us / 1000).toFixed(2);
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)} ×` : "–");
const lat = (r: LoadResult, pick: (l: LatencySummary) => number) => ms(pick(r.latency));
const noisy = (r: LoadResult) => r.cpu !== undefined && r.cpu.other > NOISY_CORES;

function cpuText(r: LoadResult): string {
  const c = r.cpu;
  if (!c) return "–";
  return `${c.server.toFixed(2)} / ${c.redis.toFixed(2)} / ${c.generator.toFixed(2)} / ${c.other.toFixed(2)}${noisy(r) ? " †" : ""}`;
}

function allRuns(report: ForwardAuthReport): LoadResult[] {
  const { endpoint, floor, endToEnd } = report;
  return [endpoint.closed, ...endpoint.paced, floor.closed, ...floor.paced, endToEnd.plain, endToEnd.authed];
}

/** Every answer of every measured window was a 200, and the service refused nothing. */
export function allAllowed(report: ForwardAuthReport): boolean {
  return report.deniedDuringLoad === 0 && allRuns(report).every((r) => r.failures === 0);
}

/** Each paced run reached its rate within 1 %. */
export function sustained(report: ForwardAuthReport): boolean {
  return [...report.endpoint.paced, ...report.floor.paced].every((r) => r.perS >= (r.rate ?? 0) * 0.99);
}

/** The figures as Markdown tables: the decision beside its floor, then the end-to-end rate. */
export function summaryTables(report: ForwardAuthReport): string[] {
  const { endpoint: e, floor: f, endToEnd, options } = report;
  const rows = [
    "| | forward-auth endpoint | floor: nginx `return 200;` | endpoint ÷ floor |",
    "| --- | ---: | ---: | ---: |",
    `| closed loop, ${options.connections} connections: decisions/s | ${int(e.closed.perS)} | ${int(f.closed.perS)} | ${ratio(e.closed.perS, f.closed.perS)} |`,
    `| closed loop: p50 / p99 ms | ${lat(e.closed, (l) => l.p50Us)} / ${lat(e.closed, (l) => l.p99Us)} | ${lat(f.closed, (l) => l.p50Us)} / ${lat(f.closed, (l) => l.p99Us)} | |`,
  ];
  e.paced.forEach((ep, i) => {
    const fp = f.paced[i] as LoadResult;
    const paced = `paced ${int(ep.rate ?? 0)}/s`;
    rows.push(
      `| ${paced}: achieved/s | ${ep.perS.toFixed(1)} | ${fp.perS.toFixed(1)} | |`,
      `| ${paced}: p50 / p99 / p99.9 ms | ${lat(ep, (l) => l.p50Us)} / **${lat(ep, (l) => l.p99Us)}** / ${lat(ep, (l) => l.p999Us)} | ${lat(fp, (l) => l.p50Us)} / **${lat(fp, (l) => l.p99Us)}** / ${lat(fp, (l) => l.p999Us)} | p99 ${ratio(ep.latency.p99Us, fp.latency.p99Us)} |`,
    );
  });
  rows.push(
    `| CPU cores, closed loop: server / Redis / h2load / other | ${cpuText(e.closed)} | ${cpuText(f.closed)} | |`,
    ...e.paced.map(
      (ep, i) =>
        `| CPU cores, paced ${int(ep.rate ?? 0)}/s | ${cpuText(ep)} | ${cpuText(f.paced[i] as LoadResult)} | |`,
    ),
    "",
    "| closed loop, " +
      `${options.connections} connections, GET /hello | nginx → backend-service | nginx + auth_request → forward-auth → backend-service | with ÷ without |`,
    "| --- | ---: | ---: | ---: |",
    `| requests/s | ${int(endToEnd.plain.perS)} | ${int(endToEnd.authed.perS)} | ${ratio(endToEnd.authed.perS, endToEnd.plain.perS)} |`,
    `| p50 / p99 ms | ${lat(endToEnd.plain, (l) => l.p50Us)} / ${lat(endToEnd.plain, (l) => l.p99Us)} | ${lat(endToEnd.authed, (l) => l.p50Us)} / ${lat(endToEnd.authed, (l) => l.p99Us)} | |`,
  );
  return rows;
}

function failuresText(report: ForwardAuthReport): string {
  const bad = allRuns(report).filter((r) => r.failures > 0);
  const parts = bad.map((r) => `${r.label}: ${int(r.failures)} (${r.failureExamples.join("; ")})`);
  if (report.deniedDuringLoad > 0) parts.push(`the service denied ${int(report.deniedDuringLoad)} checks`);
  return parts.length === 0
    ? "Every answer in every measured window was a 200, and the service denied no check while the load ran."
    : `**Not every answer was a 200: ${parts.join("; ")}. These figures are not valid.**`;
}

export function renderSection(report: ForwardAuthReport): string {
  const { machine, options } = report;
  const out: string[] = [FORWARD_AUTH_SECTION.start, "## Forward-auth (HTTP)", ""];
  const push = (...lines: string[]) => out.push(...lines);
  push(
    "The forward-auth endpoint (`AUTH_HTTP_PORT`, docs/AUTHZ.md) answers nginx's `auth_request`, Caddy, Traefik " +
      "and Envoy's HTTP ext_authz with the decision `Check` makes: the key from the in-process cache, then one Redis " +
      `script call. This section is written by \`${COMMAND}\` (\`bench/forward-auth/run.ts\`); \`pnpm bench:authz\` ` +
      "carries it over when it rewrites the rest of this file.",
    "",
    `Measured ${report.startedAt.toISOString().replace(/\.\d+Z$/, "Z")} at commit \`${machine.commit}\` ` +
      `(the working tree may have held uncommitted changes) on ${machine.cpus} × ${machine.cpuModel}, ` +
      `Node ${machine.node}, nginx ${report.nginxVersion}, ${report.h2loadVersion}, Redis ${machine.redis}, ` +
      `Postgres ${machine.postgres}; the whole benchmark took ${int(report.wallS)} s. Other processes were using ` +
      `${machine.busyBefore.toFixed(2)} cores just before it started.`,
    "",
    ...summaryTables(report),
    "",
    failuresText(report),
    "",
  );
  if (allRuns(report).some(noisy)) {
    push(
      `† Processes other than the server, Redis and h2load used more than ${NOISY_CORES} of a core in that window: ` +
        "its figures are disturbed.",
      "",
    );
  }
  if (!sustained(report)) {
    push("A paced run fell more than 1 % short of its rate: its latencies are not those of that rate.", "");
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
    "- **Service.** api-key-service from the working tree (`node --import tsx api-key-service/src/run.ts`, " +
      "LOG_LEVEL=warn) against the local Postgres and Redis, with keys seeded into a fresh database with limits of " +
      "1,000,000,000 a minute and a day, so nothing is refused; every request is counted against its key, as " +
      "through a gateway. The database and the run's Redis keys are removed at the end.",
    "- **Requests.** h2load (nghttp2) with `--h1`: HTTP/1.1 keep-alive connections, one request in flight on each, " +
      "every request `GET` with `Authorization: Bearer <key>` for one key (h2load sends fixed headers, so this is " +
      "the hot-key case: one cached record, one Redis hash). Each run is " +
      `${options.warmupS} s of warm-up (not reported) and then ${options.closedS} s closed loop (as fast as answers ` +
      `come) or ${options.pacedS} s paced with \`--rps\` (per connection; h2load spreads each second's share over ` +
      "small bursts). Latency is h2load's per-request log (`--log-file`): from sending the request to the end of " +
      "the answer, measured window only.",
    "- **Floor.** The same h2load settings against a private nginx (its own prefix, config and temp folders, " +
      "one worker, `access_log off`) answering `return 200;` at once: what a C server costs doing nothing. " +
      "It runs right after the endpoint, in the same benchmark.",
    "- **End to end.** The same nginx proxies `GET /hello` to backend-service (`node --import tsx " +
      "backend-service/src/run.ts`, its request log to /dev/null), once plainly and once behind `auth_request` to " +
      "the endpoint (the configuration is in `bench/forward-auth/nginx.ts`: the original method and URI as " +
      "`X-Original-*`, no body, X-Required-Scopes and X-Request-Cost cleared, keep-alive upstreams, the identity " +
      "copied to the backend with `auth_request_set`). Before any load a probe checks the identity reaches the " +
      "backend through auth and does not without it.",
    `- **CPU.** From /proc over each measured window: the server (the service, or nginx's worker), every ` +
      `\`redis-server\`, h2load, and the rest of the machine. Everything shares ${machine.cpus} cores, so in a ` +
      "closed loop h2load's share is taken from what the server could use, and in the end-to-end runs nginx, " +
      "backend-service and the service share them too.",
    "",
    "Reproduce:",
    "",
    "```sh",
    `${COMMAND}          # about 2 minutes; replaces this section only`,
    "```",
    "",
    "It needs nginx with `auth_request` (Debian's `nginx-light`) and h2load (`nghttp2-client`) on the PATH, " +
      "Postgres on 127.0.0.1:5432 and Redis on 127.0.0.1:6379. Settings, all optional: " +
      "`BENCH_FORWARD_AUTH_CONNECTIONS` (10), `BENCH_FORWARD_AUTH_WARMUP_S` (3), `BENCH_FORWARD_AUTH_CLOSED_S` (10), " +
      "`BENCH_FORWARD_AUTH_PACED_S` (10), and, shared with the other benchmarks, `BENCH_PG_URL`, `BENCH_REDIS_URL`, " +
      "`BENCH_OUTPUT` and `BENCH_SERVICE_NODE_ARGS`. The machine is shared and small: read the figures beside the " +
      "floor measured in the same run, not on their own.",
    FORWARD_AUTH_SECTION.end,
  );
  return out.join("\n");
}
