/**
 * The load generator, run as its own process so its CPU is measured apart from the server's. It is a
 * bare node:http2 client sending gRPC frames encoded before the run: no grpc-js channel, no protobuf
 * encoding, and only a wire-level read of each response, so a check costs it a fraction of what it
 * costs a grpc-js server.
 */
import http2 from "node:http2";
import { performance } from "node:perf_hooks";
import { CHECK_HEADERS, checkResponseCode, decodeCheckResponse, readBodies } from "./check-request.js";
import type { Failures, GeneratorConfig, GeneratorEvent, GeneratorResult } from "./generator-protocol.js";
import { Histogram } from "./histogram.js";

const DRAIN_TIMEOUT_MS = 5_000;
const CONNECT_TIMEOUT_MS = 5_000;
const SAMPLE_EVERY = 1_024;
const MAX_EXAMPLES = 5;

function emit(event: GeneratorEvent, then?: () => void): void {
  process.stdout.write(`${JSON.stringify(event)}\n`, then);
}

function fail(message: string): never {
  emit({ event: "fatal", message }, () => process.exit(1));
  // Keeps the type checker content; the write callback above ends the process.
  throw new Error(message);
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
const ring = config.keys === "hot" ? [hotBody] : bodies;
// Parse the proto definition now: the first sampled decode must not pay for it mid-run.
decodeCheckResponse(Buffer.from([0, 0, 0, 0, 0]));

// Ends the process even if the target hangs or the orchestrator stops reading.
setTimeout(
  () => fail("generator exceeded its time limit"),
  (config.warmupS + config.durationS) * 1000 + DRAIN_TIMEOUT_MS + 20_000,
).unref();

const failures: Failures = {
  http: 0,
  grpc: 0,
  denied: 0,
  transport: 0,
  skipped: 0,
  decodeMismatch: 0,
  examples: [],
};
function noteFailure(kind: Exclude<keyof Failures, "examples">, detail: string): void {
  failures[kind]++;
  if (failures.examples.length < MAX_EXAMPLES) failures.examples.push(`${kind}: ${detail}`);
}

let phase: "warmup" | "measuring" | "stopped" = "warmup";
const latency = new Histogram();
const fromSchedule = new Histogram();
let checks = 0;
let completed = 0;
let sampledDecodes = 0;
let inFlight = 0;
let maxInFlight = 0;
let nextBody = 0;
let nextSession = 0;
let onDrained: (() => void) | undefined;

function connect(): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${config.port}`);
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`could not connect to 127.0.0.1:${config.port} within ${CONNECT_TIMEOUT_MS} ms`));
    }, CONNECT_TIMEOUT_MS);
    session.once("connect", () => {
      clearTimeout(timer);
      resolve(session);
    });
    session.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

let sessions: http2.ClientHttp2Session[];
try {
  sessions = await Promise.all(Array.from({ length: config.connections }, connect));
} catch (err) {
  fail(err instanceof Error ? err.message : String(err));
}
for (const session of sessions) {
  // A lost connection mid-run would make every later send throw; end the run and report it instead.
  session.on("error", (err) => noteFailure("transport", `session error: ${err.message}`));
  session.on("close", () => {
    if (phase !== "stopped") {
      noteFailure("transport", "connection closed by the target during the run");
      stop();
    }
  });
}

function finish(
  startedAt: number,
  scheduledAt: number,
  httpStatus: number,
  grpcStatus: string | undefined,
  body: Buffer | undefined,
  error: string | undefined,
): void {
  inFlight--;
  const now = performance.now();
  completed++;
  let ok = false;
  if (error !== undefined) noteFailure("transport", error);
  else if (httpStatus !== 200) noteFailure("http", `HTTP status ${httpStatus}`);
  else if (grpcStatus !== "0") noteFailure("grpc", `grpc-status ${grpcStatus ?? "(missing)"}`);
  else {
    const code = body ? checkResponseCode(body) : -1;
    if (code !== 0) noteFailure("denied", `CheckResponse status.code ${code}`);
    else ok = true;
    if (body && completed % SAMPLE_EVERY === 0) {
      sampledDecodes++;
      const decoded = decodeCheckResponse(body).status?.code ?? 0;
      if (decoded !== code) noteFailure("decodeMismatch", `full decode ${decoded}, wire read ${code}`);
    }
  }
  if (ok && phase === "measuring") {
    checks++;
    latency.record((now - startedAt) * 1000);
    if (config.mode === "paced") fromSchedule.record((now - scheduledAt) * 1000);
  }
  if (phase === "stopped") {
    if (inFlight === 0) onDrained?.();
  } else if (config.mode === "closed") {
    send(now);
  }
}

function send(scheduledAt: number): void {
  const body = ring[nextBody] as Buffer;
  nextBody = nextBody + 1 === ring.length ? 0 : nextBody + 1;
  const session = sessions[nextSession] as http2.ClientHttp2Session;
  nextSession = nextSession + 1 === sessions.length ? 0 : nextSession + 1;

  const startedAt = performance.now();
  let httpStatus = 0;
  let grpcStatus: string | undefined;
  let data: Buffer | undefined;
  let error: string | undefined;
  let stream: http2.ClientHttp2Stream;
  try {
    stream = session.request(CHECK_HEADERS);
  } catch (err) {
    noteFailure("transport", err instanceof Error ? err.message : String(err));
    stop();
    return;
  }
  inFlight++;
  if (inFlight > maxInFlight) maxInFlight = inFlight;
  stream.on("response", (headers) => {
    httpStatus = Number(headers[":status"]);
    // A trailers-only response (how gRPC errors usually arrive) carries grpc-status in the headers.
    const status = headers["grpc-status"];
    if (status !== undefined) grpcStatus = String(status);
  });
  stream.on("trailers", (trailers) => {
    const status = trailers["grpc-status"];
    if (status !== undefined) grpcStatus = String(status);
  });
  stream.on("data", (chunk: Buffer) => {
    data = data === undefined ? chunk : Buffer.concat([data, chunk]);
  });
  stream.on("error", (err) => {
    error = err.message;
  });
  stream.on("close", () => {
    if (error === undefined && stream.rstCode !== undefined && stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR) {
      error = `stream reset with code ${stream.rstCode}`;
    }
    finish(startedAt, scheduledAt, httpStatus, grpcStatus, data, error);
  });
  stream.end(body);
}

let pacer: NodeJS.Timeout | undefined;

function startPaced(): void {
  const rate = config.rate ?? 0;
  const cap = config.concurrency ?? 0;
  const startedAt = performance.now();
  let sent = 0;
  // Node timers fire about once a millisecond at best, so requests leave in small bursts of whatever
  // fell due since the last tick; each keeps its own due time so lateness shows in the latency.
  pacer = setInterval(() => {
    const due = Math.floor(((performance.now() - startedAt) * rate) / 1000);
    while (sent < due) {
      const scheduledAt = startedAt + (sent * 1000) / rate;
      sent++;
      if (inFlight >= cap) failures.skipped++;
      else send(scheduledAt);
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
  if (inFlight === 0) onDrained();
}

function report(): void {
  onDrained = undefined;
  if (inFlight > 0) noteFailure("transport", `${inFlight} requests still unanswered after the run`);
  const windowS = (windowEndedAt - windowStartedAt) / 1000;
  const result: GeneratorResult = {
    checks,
    windowS,
    checksPerS: windowS > 0 ? checks / windowS : 0,
    latency: latency.summary(),
    failures,
    sampledDecodes,
    cpuS: (cpuInWindow.user + cpuInWindow.system) / 1e6,
    maxInFlight,
  };
  if (config.mode === "paced") result.latencyFromSchedule = fromSchedule.summary();
  for (const session of sessions) session.destroy();
  emit({ event: "result", result }, () => process.exit(0));
}

setTimeout(startMeasuring, config.warmupS * 1000);
setTimeout(stop, (config.warmupS + config.durationS) * 1000);
if (config.mode === "paced") startPaced();
else for (let i = 0; i < config.concurrency; i++) send(performance.now());
