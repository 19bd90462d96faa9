/**
 * `pnpm bench:forward-auth`: the forward-auth endpoint's decisions per second (closed loop) and its
 * latency paced at 1,000 and 5,000/s, beside nginx answering `return 200;` in the same run; and the
 * end-to-end rate through nginx in front of backend-service with and without auth_request. Written
 * to a delimited section of docs/PERFORMANCE.md. See report.ts for what is measured and how.
 */

import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import {
  type Cleanup,
  counterDeltaByLabel,
  freePort,
  log,
  readFlags,
  runAsProcess,
  scrapeMetrics,
} from "@gateway/harness";
import { ensureNghttp2Tool, toolVersion } from "../authz/h2load.js";
import { connectAndDescribe, seedBenchDatabase, startBenchService } from "../authz/setup.js";
import { startBackend } from "./backend.js";
import { type LoadRun, runLoad } from "./load.js";
import { startNginx } from "./nginx.js";
import { readForwardAuthOptions } from "./options.js";
import { probeTargets } from "./probe.js";
import {
  allAllowed,
  FORWARD_AUTH_SECTION,
  type ForwardAuthReport,
  renderSection,
  summaryTables,
  sustained,
} from "./report.js";

readFlags(
  `pnpm bench:forward-auth

The forward-auth endpoint's decisions/s (closed loop) and its latency paced at 1,000 and 5,000/s,
beside nginx answering return 200; and the rate through nginx to backend-service with and without
auth_request; rewrites its section of docs/PERFORMANCE.md (BENCH_OUTPUT). Needs nginx and h2load.
Settings: BENCH_FORWARD_AUTH_CONNECTIONS, BENCH_FORWARD_AUTH_WARMUP_S, BENCH_FORWARD_AUTH_CLOSED_S,
BENCH_FORWARD_AUTH_PACED_S, BENCH_PG_URL, BENCH_REDIS_URL.`,
  {},
);
const ROOT = resolve(import.meta.dirname, "../..");
const KEY_PREFIX = "gw";
/** At most this long, over the whole benchmark, waiting for a shared machine to quiet down. */
const QUIET_WAIT_BUDGET_S = 20;

async function main(cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  const t0 = performance.now();
  const options = readForwardAuthOptions(ROOT);
  log(`forward-auth benchmark → ${options.output}`);
  const h2load = ensureNghttp2Tool("h2load", log);
  if (!h2load.path) throw new Error(h2load.note);

  const { redis, machine } = await connectAndDescribe(cleanup, options);
  const database = await seedBenchDatabase(cleanup, options.pgUrl, 10, KEY_PREFIX);
  const [key] = database.keys;
  if (!key) throw new Error("no key seeded");
  const service = await startBenchService(cleanup, redis, ROOT, {
    databaseUrl: database.url,
    redisUrl: options.redisUrl,
    keyPrefix: KEY_PREFIX,
  });
  const logLinesAtStart = service.logLines.length;
  log("starting backend-service and nginx…");
  const backend = await startBackend(cleanup, ROOT);
  const ports = {
    floor: await freePort(),
    plain: await freePort(),
    authed: await freePort(),
    forwardAuth: service.authHttpPort,
    backend: backend.port,
  };
  const nginx = await startNginx(cleanup, ports);
  log(
    `  service pid ${service.pid} (forward-auth :${service.authHttpPort}), backend pid ${backend.process.pid} ` +
      `(:${backend.port}), nginx ${nginx.version} worker pid ${nginx.workerPid} (floor :${ports.floor}, ` +
      `plain :${ports.plain}, auth_request :${ports.authed})`,
  );

  const url = (port: number, path: string) => `http://127.0.0.1:${port}${path}`;
  const forwardAuthUrl = url(service.authHttpPort, "/v1/forward-auth");
  await probeTargets(
    {
      forwardAuth: forwardAuthUrl,
      floor: url(ports.floor, "/v1/forward-auth"),
      plain: url(ports.plain, "/hello"),
      authed: url(ports.authed, "/hello"),
    },
    key,
  );
  log(
    "  probe: the endpoint allows the key and refuses its absence; through nginx the identity reaches the backend",
  );

  const workDir = cleanup.tempDir("bench-forward-auth-");
  const quiet = { remainingS: QUIET_WAIT_BUDGET_S };
  const base = {
    h2load: h2load.path,
    headers: [`authorization: Bearer ${key}`],
    connections: options.connections,
    warmupS: options.warmupS,
    workDir,
  };
  const measure = async (run: Omit<LoadRun, keyof typeof base>) => {
    log(`measuring ${run.label}${run.rate ? ` at ${run.rate}/s` : ", closed loop"}…`);
    const result = await runLoad({ ...base, ...run }, quiet, log);
    log(
      `  ${result.perS.toFixed(0)}/s, p50 ${(result.latency.p50Us / 1000).toFixed(2)} ms, p99 ${(result.latency.p99Us / 1000).toFixed(2)} ms`,
    );
    return result;
  };
  const endpointRun = { label: "forward-auth", url: forwardAuthUrl, serverPid: service.pid };
  const floorRun = {
    label: "nginx floor",
    url: url(ports.floor, "/v1/forward-auth"),
    serverPid: nginx.workerPid,
  };

  const before = await scrapeMetrics(service.httpPort);
  const endpointClosed = await measure({ ...endpointRun, durationS: options.closedS });
  const floorClosed = await measure({ ...floorRun, durationS: options.closedS });
  const endpointPaced = [];
  const floorPaced = [];
  for (const rate of options.rates) {
    endpointPaced.push(await measure({ ...endpointRun, durationS: options.pacedS, rate }));
    floorPaced.push(await measure({ ...floorRun, durationS: options.pacedS, rate }));
  }
  const plain = await measure({
    label: "nginx → backend",
    url: url(ports.plain, "/hello"),
    serverPid: nginx.workerPid,
    durationS: options.closedS,
  });
  const authed = await measure({
    label: "nginx + auth_request → backend",
    url: url(ports.authed, "/hello"),
    serverPid: service.pid,
    durationS: options.closedS,
  });
  const after = await scrapeMetrics(service.httpPort);
  const outcomes = counterDeltaByLabel(before, after, "authz_checks_total", "outcome");

  const report: ForwardAuthReport = {
    startedAt,
    wallS: (performance.now() - t0) / 1000,
    machine,
    options,
    nginxVersion: nginx.version,
    h2loadVersion: toolVersion(h2load.path),
    endpoint: { closed: endpointClosed, paced: endpointPaced },
    floor: { closed: floorClosed, paced: floorPaced },
    endToEnd: { plain, authed },
    deniedDuringLoad: outcomes.denied ?? 0,
    serviceLogLines: service.logLines.length - logLinesAtStart,
  };
  FORWARD_AUTH_SECTION.write(options.output, renderSection(report));
  log(`\nwrote the forward-auth section of ${options.output}\n`);
  log(summaryTables(report).join("\n"));
  log(
    `\nthe service counted ${outcomes.allowed ?? 0} allowed and ${outcomes.denied ?? 0} denied checks under load`,
  );
  if (!sustained(report)) log("\nwarning: a paced run fell more than 1 % short of its rate");
  if (!allAllowed(report)) {
    log("\nsome answers were not 200 (see the section): these figures are not valid");
    return 1;
  }
  return 0;
}

await runAsProcess("bench:forward-auth", main, log);
