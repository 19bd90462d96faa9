/**
 * `pnpm bench:verify`: the verify API's closed-loop throughput and its latency at a paced rate,
 * beside a bare node:http floor, written to a delimited section of docs/PERFORMANCE.md. See
 * report.ts for what is measured and how.
 */

import { resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { type Cleanup, log, readFlags, runAsProcess } from "@gateway/harness";
import { connectAndDescribe, seedBenchDatabase, startBenchService } from "../authz/setup.js";
import { startFloorServer } from "./launch.js";
import { measureTarget } from "./measure.js";
import { readVerifyOptions } from "./options.js";
import { probeVerify } from "./probe.js";
import type { PhaseSpec } from "./protocol.js";
import {
  allValid,
  renderSection,
  summaryTable,
  sustained,
  VERIFY_SECTION,
  type VerifyReport,
} from "./report.js";

const ROOT = resolve(import.meta.dirname, "../..");

readFlags(
  `pnpm bench:verify

The verify API's closed-loop throughput and its latency at a paced rate, beside a bare node:http
floor; rewrites its section of docs/PERFORMANCE.md (BENCH_OUTPUT). Settings: BENCH_VERIFY_KEYS,
BENCH_VERIFY_CONNECTIONS, BENCH_VERIFY_WARMUP_S, BENCH_VERIFY_CLOSED_S, BENCH_VERIFY_PACED_S,
BENCH_VERIFY_RATE, BENCH_PG_URL, BENCH_REDIS_URL.`,
  {},
);
const KEY_PREFIX = "gw";
const VERIFY_PATH = "/v1/keys/verify";
/** At most this long, over the whole benchmark, waiting for a shared machine to quiet down. */
const QUIET_WAIT_BUDGET_S = 15;

async function main(cleanup: Cleanup): Promise<number> {
  const startedAt = new Date();
  const t0 = performance.now();
  const options = readVerifyOptions(ROOT);
  const _redisUrl = new URL(options.redisUrl);
  log(`verify API benchmark → ${options.output}`);

  const { redis, machine } = await connectAndDescribe(cleanup, options);
  const database = await seedBenchDatabase(cleanup, options.pgUrl, options.keys, KEY_PREFIX);
  const { keys, seedS } = database;
  const service = await startBenchService(cleanup, redis, ROOT, {
    databaseUrl: database.url,
    redisUrl: options.redisUrl,
    keyPrefix: KEY_PREFIX,
  });
  const logLinesAtStart = service.logLines.length;
  const serviceUrl = `http://127.0.0.1:${service.httpPort}${VERIFY_PATH}`;
  const authorization = `Bearer ${service.adminToken}`;
  const answer = await probeVerify(serviceUrl, authorization, keys);
  log(`  pid ${service.pid}, http ${service.httpPort}; a verify answer is ${answer.length} bytes`);

  log("starting the node:http floor…");
  const floor = await startFloorServer(ROOT, answer);
  cleanup.add("stop the floor server", () => floor.stop());
  log(`  pid ${floor.pid}, http ${floor.port}`);

  const phases: PhaseSpec[] = [
    { name: "warm-up", durationS: options.warmupS, rate: 0 },
    { name: "closed", durationS: options.closedS, rate: 0 },
    { name: "paced", durationS: options.pacedS, rate: options.rate },
  ];
  const bodies = keys.map((key) => JSON.stringify({ key }));
  const quietBudget = { remainingS: QUIET_WAIT_BUDGET_S };
  const config = { authorization, bodies, connections: options.connections, phases };
  log(
    `load: ${options.connections} connections; ${phases.map((p) => `${p.name} ${p.durationS} s`).join(", ")}`,
  );
  const serviceRecords = await measureTarget(
    ROOT,
    { label: "api-key-service", pid: service.pid, url: serviceUrl, metricsPort: service.httpPort },
    config,
    quietBudget,
  );
  if (!isRunning(service.pid))
    throw new Error(`api-key-service exited during the runs:\n${service.recentOutput()}`);
  const floorUrl = `http://127.0.0.1:${floor.port}${VERIFY_PATH}`;
  const floorRecords = await measureTarget(
    ROOT,
    { label: "floor", pid: floor.pid, url: floorUrl },
    config,
    quietBudget,
  );

  const report: VerifyReport = {
    startedAt,
    wallS: (performance.now() - t0) / 1000,
    machine,
    options,
    seedS,
    answerBytes: Buffer.byteLength(answer),
    service: serviceRecords,
    floor: floorRecords,
    serviceLogLines: service.logLines.length - logLinesAtStart,
  };
  VERIFY_SECTION.write(options.output, renderSection(report));
  log(`\nwrote the verify section of ${options.output}\n`);
  log(summaryTable(report).join("\n"));
  if (!sustained(report.service, options.rate) || !sustained(report.floor, options.rate)) {
    log(`\nwarning: a paced run fell more than 1 % short of ${options.rate}/s`);
  }
  if (!allValid(report)) {
    log("\nsome answers were not 200 with valid: true (see the table): these figures are not valid");
    return 1;
  }
  log("\nevery answer was 200 with valid: true");
  return 0;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

await runAsProcess("bench:verify", main, log);
