/**
 * The access-log load generator, run as its own process so its CPU is measured apart from the
 * sidecar's. It plays an Envoy with `streams` workers: one StreamAccessLogs call per worker, each on
 * its own HTTP/2 connection (node:http2, no grpc-js), the identifier on each stream's first message
 * only, then batches of about `batchBytes` sent at a paced rate. Messages are encoded once and
 * replayed with new request ids (see access-log.ts), so an entry costs it well under a microsecond.
 */
import { randomBytes } from "node:crypto";
import { writeSync } from "node:fs";
import http2 from "node:http2";
import { performance } from "node:perf_hooks";
import { STREAM_ACCESS_LOGS_PATH } from "@gateway/proto";
import {
  benchKeys,
  decodeFrame,
  identifierBytes,
  seededRandom,
  type Template,
  TemplateSet,
} from "./access-log.js";
import type {
  AlsGeneratorConfig,
  AlsGeneratorEvent,
  AlsGeneratorResult,
  Progress,
} from "./generator-protocol.js";
import { RequestIds, setStartSeconds, stamp } from "./replay.js";

const CONNECT_TIMEOUT_MS = 5_000;
/** After the window: how long the streams may take to be read to the end and answered. */
const CLOSE_TIMEOUT_MS = 60_000;
const PROGRESS_EVERY_MS = 100;

function emit(event: AlsGeneratorEvent, then?: () => void): void {
  process.stdout.write(`${JSON.stringify(event)}\n`, then);
}

function fail(message: string): never {
  writeSync(1, `${JSON.stringify({ event: "fatal", message } satisfies AlsGeneratorEvent)}\n`);
  process.exit(1);
}

function readConfig(): AlsGeneratorConfig {
  const text = process.argv[2];
  if (!text) fail("usage: generator.ts '<AlsGeneratorConfig JSON>'");
  return JSON.parse(text) as AlsGeneratorConfig;
}

const config = readConfig();
setTimeout(
  () => fail("generator exceeded its time limit"),
  (config.warmupS + config.durationS) * 1000 + CLOSE_TIMEOUT_MS + 30_000,
).unref();

const random = seededRandom(config.seed);
const keys = benchKeys(config.keys, config.customers, random);
const perMessage = TemplateSet.entriesPerMessage(keys, config.batchBytes, random);
const templates = new TemplateSet(keys, config.templates, perMessage, random).encode();
let startSecond = Math.floor(Date.now() / 1000);
setStartSeconds(templates, startSecond);
const ids = new RequestIds(randomBytes(4).toString("hex"));
selfCheck(templates[0] as Template);

/** Decodes one message the way the sidecar does before sending anything: what we send is what it reads. */
function selfCheck(template: Template): void {
  const probe = new RequestIds("00000000");
  const message = decodeFrame(stamp(template, probe, identifierBytes("self-check")));
  const entries = message.http_logs?.log_entry ?? [];
  const requestIds = new Set(entries.map((e) => e.request?.request_id));
  const ok =
    message.identifier?.node?.id === "self-check" &&
    entries.length === template.entries &&
    requestIds.size === entries.length &&
    entries.every(
      (e) =>
        e.request?.request_id === e.common_properties?.stream_id &&
        Number(e.common_properties?.start_time?.seconds) === startSecond,
    );
  if (!ok) fail("self-check: a stamped message does not decode to fresh ids and the current start time");
}

interface Lane {
  session: http2.ClientHttp2Session;
  stream: http2.ClientHttp2Stream;
  identifier: Buffer;
  first: boolean;
  blocked: boolean;
  status: string;
  closed: Promise<void>;
}

let stopping = false;

async function openLane(index: number): Promise<Lane> {
  const session = http2.connect(`http://127.0.0.1:${config.port}`);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("connect timed out")), CONNECT_TIMEOUT_MS);
    session.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    session.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
  session.on("error", (err) => fail(`stream ${index}: session error: ${err.message}`));
  const stream = session.request(
    {
      ":method": "POST",
      ":path": STREAM_ACCESS_LOGS_PATH,
      "content-type": "application/grpc",
      te: "trailers",
      "user-agent": "envoy-bench",
    },
    { endStream: false },
  );
  const lane: Lane = {
    session,
    stream,
    identifier: identifierBytes(`bench-envoy-worker-${index}`),
    first: true,
    blocked: false,
    status: "none",
    closed: new Promise((resolve) => stream.once("close", resolve)),
  };
  // A trailers-only answer (an error) carries grpc-status in the headers.
  const noteStatus = (headers: http2.IncomingHttpHeaders) => {
    const status = headers["grpc-status"];
    if (status !== undefined) lane.status = String(status);
    if (status !== undefined && status !== "0") {
      fail(`stream ${index}: the sidecar answered grpc-status ${status} ${headers["grpc-message"] ?? ""}`);
    }
  };
  stream.on("response", noteStatus);
  stream.on("trailers", noteStatus);
  stream.on("data", () => {}); // the answer to an ended stream: StreamAccessLogsResponse {}
  stream.on("drain", () => {
    lane.blocked = false;
  });
  stream.on("error", (err) => fail(`stream ${index}: ${err.message}`));
  stream.once("close", () => {
    if (!stopping) fail(`stream ${index} closed by the sidecar during the run (code ${stream.rstCode})`);
  });
  return lane;
}

let lanes: Lane[];
try {
  lanes = await Promise.all(Array.from({ length: config.streams }, (_, i) => openLane(i)));
} catch (err) {
  fail(`could not connect to 127.0.0.1:${config.port}: ${err instanceof Error ? err.message : String(err)}`);
}
emit({
  event: "ready",
  entriesPerMessage: perMessage,
  messageBytes: (templates[0] as Template).frame.length,
});

let entries = 0;
let counted = 0;
let messages = 0;
let nextTemplate = 0;
let nextLane = 0;
let phase: "warmup" | "measuring" | "stopped" = "warmup";
let maxBehindS = 0;
let blockedS = 0;
let blockedSince: number | undefined;
let lastProgress = 0;
const startedAt = performance.now();

const progress = (): Progress => ({ at: Date.now(), entries, counted });

function freeLane(): Lane | undefined {
  for (let i = 0; i < lanes.length; i++) {
    const lane = lanes[(nextLane + i) % lanes.length] as Lane;
    if (!lane.blocked) {
      nextLane = (nextLane + i + 1) % lanes.length;
      return lane;
    }
  }
  return undefined;
}

/** Sends every whole message that has fallen due, round-robin over the streams that are not waiting for 'drain'. */
function tick(): void {
  const now = performance.now();
  const second = Math.floor(Date.now() / 1000);
  if (second !== startSecond) {
    startSecond = second;
    setStartSeconds(templates, second);
  }
  const due = ((now - startedAt) * config.rate) / 1000;
  let allBlocked = false;
  while (entries + perMessage <= due) {
    const lane = freeLane();
    if (!lane) {
      allBlocked = true;
      break;
    }
    const template = templates[nextTemplate] as Template;
    nextTemplate = nextTemplate + 1 === templates.length ? 0 : nextTemplate + 1;
    const frame = stamp(template, ids, lane.first ? lane.identifier : undefined);
    lane.first = false;
    if (!lane.stream.write(frame)) lane.blocked = true;
    entries += template.entries;
    counted += template.counted;
    messages++;
  }
  if (phase === "measuring") {
    maxBehindS = Math.max(maxBehindS, (due - entries - perMessage) / config.rate);
    if (allBlocked) blockedSince ??= now;
    else if (blockedSince !== undefined) {
      blockedS += (now - blockedSince) / 1000;
      blockedSince = undefined;
    }
  }
  if (now - lastProgress >= PROGRESS_EVERY_MS) {
    lastProgress = now;
    emit({ event: "progress", ...progress() });
  }
}

const pacer = setInterval(tick, 1);
let measured = { startedAt: 0, entries: 0, counted: 0, cpu: process.cpuUsage() };
let result: Omit<AlsGeneratorResult, "statuses"> | undefined;

setTimeout(() => {
  tick();
  phase = "measuring";
  measured = { startedAt: performance.now(), entries, counted, cpu: process.cpuUsage() };
  emit({ event: "measuring", ...progress() });
}, config.warmupS * 1000);

setTimeout(
  () => {
    tick();
    clearInterval(pacer);
    const endedAt = performance.now();
    if (blockedSince !== undefined) blockedS += (endedAt - blockedSince) / 1000;
    const cpu = process.cpuUsage(measured.cpu);
    phase = "stopped";
    result = {
      entries,
      counted,
      messages,
      entriesPerMessage: perMessage,
      messageBytes: (templates[0] as Template).frame.length,
      windowEntries: entries - measured.entries,
      windowCounted: counted - measured.counted,
      windowS: (endedAt - measured.startedAt) / 1000,
      cpuS: (cpu.user + cpu.system) / 1e6,
      maxBehindS: Math.max(0, maxBehindS),
      blockedS,
    };
    emit({ event: "window-end", ...progress() });
    void finish();
  },
  (config.warmupS + config.durationS) * 1000,
);

/** Ends every stream (Envoy would keep it open) so the sidecar reads it to the end and answers. */
async function finish(): Promise<void> {
  stopping = true;
  for (const lane of lanes) lane.stream.end();
  const timeout = new Promise<"timeout">((resolve) => setTimeout(() => resolve("timeout"), CLOSE_TIMEOUT_MS));
  const outcome = await Promise.race([Promise.all(lanes.map((lane) => lane.closed)), timeout]);
  if (outcome === "timeout")
    fail(`the sidecar did not answer every ended stream within ${CLOSE_TIMEOUT_MS} ms`);
  for (const lane of lanes) lane.session.close();
  emit(
    { event: "result", result: { ...(result as AlsGeneratorResult), statuses: lanes.map((l) => l.status) } },
    () => process.exit(0),
  );
}
