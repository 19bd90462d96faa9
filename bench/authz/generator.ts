/**
 * The load generator, run as its own process so its CPU is measured apart from the server's. It
 * speaks HTTP/2 on a plain socket (h2-wire.ts) and sends gRPC frames encoded before the run: no
 * grpc-js channel, no protobuf encoding, and only a wire-level read of each response, so a check
 * costs it a fraction of what it costs a grpc-js server.
 */

import { writeSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { Histogram } from "@gateway/harness";
import { AUTHORIZATION_CHECK_PATH } from "@gateway/proto";
import { checkResponseCode, decodeCheckResponse, readBodies } from "./check-request.js";
import {
  type Failures,
  type GeneratorConfig,
  type GeneratorEvent,
  type GeneratorResult,
  noFailures,
} from "./generator-protocol.js";
import { Call, checkHeaderBlocks, H2Connection, RequestTemplate } from "./h2-wire.js";

const DRAIN_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 5_000;
const SAMPLE_EVERY = 1_024;
const MAX_EXAMPLES = 5;

function emit(event: GeneratorEvent, then?: () => void): void {
  process.stdout.write(`${JSON.stringify(event)}\n`, then);
}

function fail(message: string): never {
  writeSync(1, `${JSON.stringify({ event: "fatal", message } satisfies GeneratorEvent)}\n`);
  process.exit(1);
}

function readConfig(): GeneratorConfig {
  const text = process.argv[2];
  if (!text) fail("usage: generator.ts '<GeneratorConfig JSON>'");
  return JSON.parse(text) as GeneratorConfig;
}

const config = readConfig();
const bodies = readBodies(config.bodiesFile);
const hotBody = bodies[0];
if (!hotBody) fail(`${config.bodiesFile} holds no request bodies`);
const headerBlocks = checkHeaderBlocks(config.port, AUTHORIZATION_CHECK_PATH);
const templates = (config.keys === "hot" ? [hotBody] : bodies).map((body) => new RequestTemplate(body));
// Parse the proto definition now: the first sampled decode must not pay for it mid-run.
decodeCheckResponse(Buffer.from([0, 0, 0, 0, 0]));

// A soak spawns the next window's process early so that it starts as the previous one stops.
const startDelayMs = Math.max(0, (config.startAtMs ?? 0) - Date.now());

// Ends the process even if the target hangs or the orchestrator stops reading.
setTimeout(
  () => fail("generator exceeded its time limit"),
  startDelayMs + (config.warmupS + config.durationS) * 1000 + DRAIN_TIMEOUT_MS + 20_000,
).unref();

const inWindow = noFailures();
const outsideWindow = noFailures();
function noteFailure(kind: Exclude<keyof Failures, "examples">, detail: string): void {
  const failures = phase === "measuring" ? inWindow : outsideWindow;
  failures[kind]++;
  if (failures.examples.length < MAX_EXAMPLES) failures.examples.push(`${kind}: ${detail}`);
}

let phase: "warmup" | "measuring" | "stopped" = "warmup";
const latency = new Histogram();
const fromSchedule = new Histogram();
let checks = 0;
let completed = 0;
let totalOk = 0;
let sent = 0;
let sampledDecodes = 0;
let maxInFlight = 0;
let nextBody = 0;
let onDrained: (() => void) | undefined;

function onComplete(call: Call, connection: H2Connection): void {
  const now = performance.now();
  completed++;
  let ok = false;
  if (call.error !== undefined) noteFailure("transport", call.error);
  else if (call.httpStatus !== 200) noteFailure("http", `HTTP status ${call.httpStatus}`);
  else if (call.grpcStatus !== "0") {
    noteFailure("grpc", `grpc-status ${call.grpcStatus ?? "(missing)"} ${call.grpcMessage ?? ""}`.trim());
  } else {
    const code = call.body ? checkResponseCode(call.body) : -1;
    if (code !== 0) noteFailure("denied", `CheckResponse status.code ${code}`);
    else ok = true;
    if (call.body && completed % SAMPLE_EVERY === 0) {
      sampledDecodes++;
      const decoded = decodeCheckResponse(call.body).status?.code ?? 0;
      if (decoded !== code) noteFailure("decodeMismatch", `full decode ${decoded}, wire read ${code}`);
    }
  }
  if (ok) totalOk++;
  if (ok && phase === "measuring") {
    checks++;
    latency.record((now - call.startedAt) * 1000);
    if (config.mode === "paced") fromSchedule.record((now - call.scheduledAt) * 1000);
  }
  if (phase === "stopped") {
    if (inFlight() === 0) onDrained?.();
  } else if (config.mode === "closed" && !connection.closed) {
    if (config.maxRequests === undefined || sent < config.maxRequests) send(connection, now);
    else if (inFlight() === 0) stop();
  }
}

let connections: H2Connection[];
try {
  connections = await Promise.all(
    Array.from({ length: config.connections }, () =>
      H2Connection.connect(config.port, headerBlocks, onComplete, CONNECT_TIMEOUT_MS),
    ),
  );
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
for (const connection of connections) {
  // A lost connection would leave the run measuring nothing; end it and report why instead.
  connection.onClose = (reason) => {
    if (phase === "stopped") return;
    noteFailure("transport", reason);
    stop();
  };
}

function inFlight(): number {
  let n = 0;
  for (const connection of connections) n += connection.inFlight;
  return n;
}

function send(connection: H2Connection, scheduledAt: number): void {
  const template = templates[nextBody] as RequestTemplate;
  nextBody = nextBody + 1 === templates.length ? 0 : nextBody + 1;
  sent++;
  connection.send(template, new Call(performance.now(), scheduledAt));
  const n = inFlight();
  if (n > maxInFlight) maxInFlight = n;
}

let pacer: NodeJS.Timeout | undefined;

function startPaced(): void {
  const rate = config.rate ?? 0;
  const cap = config.concurrency ?? 0;
  const startedAt = performance.now();
  let due = 0;
  let nextConnection = 0;
  // Node timers fire about once a millisecond at best, so requests leave in small bursts of whatever
  // fell due since the last tick; each keeps its own due time so lateness shows in the latency.
  pacer = setInterval(() => {
    const dueNow = Math.floor(((performance.now() - startedAt) * rate) / 1000);
    while (due < dueNow) {
      const scheduledAt = startedAt + (due * 1000) / rate;
      due++;
      const connection = connections[nextConnection] as H2Connection;
      nextConnection = nextConnection + 1 === connections.length ? 0 : nextConnection + 1;
      if (inFlight() >= cap) noteFailure("skipped", "in-flight cap reached");
      else send(connection, scheduledAt);
      if (phase === "stopped") return;
    }
  }, 1);
}

let windowStartedAt = 0;
let windowEndedAt = 0;
let cpuAtStart = process.cpuUsage();
let cpuInWindow: NodeJS.CpuUsage = { user: 0, system: 0 };

function startMeasuring(): void {
  if (phase !== "warmup") return;
  phase = "measuring";
  latency.reset();
  fromSchedule.reset();
  checks = 0;
  windowStartedAt = performance.now();
  cpuAtStart = process.cpuUsage();
  emit({ event: "measuring" });
}

function stop(): void {
  if (phase === "stopped") return;
  const measured = phase === "measuring";
  phase = "stopped";
  if (pacer) clearInterval(pacer);
  windowEndedAt = performance.now();
  if (measured) cpuInWindow = process.cpuUsage(cpuAtStart);
  else windowStartedAt = windowEndedAt;
  emit({ event: "window-end" });
  const drainTimer = setTimeout(report, DRAIN_TIMEOUT_MS);
  onDrained = () => {
    clearTimeout(drainTimer);
    report();
  };
  if (inFlight() === 0) onDrained();
}

function report(): void {
  onDrained = undefined;
  const unanswered = inFlight();
  if (unanswered > 0) noteFailure("transport", `${unanswered} requests still unanswered after the run`);
  const windowS = (windowEndedAt - windowStartedAt) / 1000;
  const result: GeneratorResult = {
    checks,
    windowS,
    checksPerS: windowS > 0 ? checks / windowS : 0,
    latency: latency.summary(),
    failures: inWindow,
    outsideWindowFailures: outsideWindow,
    totalOk,
    sampledDecodes,
    cpuS: (cpuInWindow.user + cpuInWindow.system) / 1e6,
    maxInFlight,
  };
  if (config.mode === "paced") result.latencyFromSchedule = fromSchedule.summary();
  for (const connection of connections) connection.destroy();
  emit({ event: "result", result }, () => process.exit(0));
}

function begin(): void {
  setTimeout(startMeasuring, config.warmupS * 1000);
  setTimeout(stop, (config.warmupS + config.durationS) * 1000);
  if (config.mode === "paced") startPaced();
  else {
    for (let i = 0; i < Math.min(config.concurrency, config.maxRequests ?? config.concurrency); i++) {
      send(connections[i % connections.length] as H2Connection, performance.now());
    }
  }
}

setTimeout(begin, Math.max(0, (config.startAtMs ?? 0) - Date.now()));
