import type { LatencySummary } from "@gateway/harness";

/** How one generator process drives one target; passed as JSON in argv[2]. */
export interface GeneratorConfig {
  port: number;
  /** Length-prefixed gRPC frames, one per key (see check-request.ts). */
  bodiesFile: string;
  /** `hot` sends the first body only; `spread` walks all bodies round-robin. */
  keys: "hot" | "spread";
  /** `closed`: `concurrency` requests always in flight. `paced`: `rate` per second, open loop. */
  mode: "closed" | "paced";
  concurrency: number;
  connections: number;
  /** Requests per second in paced mode; ignored in closed mode. */
  rate: number;
  warmupS: number;
  durationS: number;
  /** Closed mode: stop after sending this many requests (a pass over the keys), if sooner. */
  maxRequests?: number;
  /** Date.now() at which to start sending, once connected; at once when absent or past. */
  startAtMs?: number;
}

export interface Failures {
  /** HTTP/2 :status other than 200. */
  http: number;
  /** grpc-status missing or not 0. */
  grpc: number;
  /** CheckResponse.status.code not 0 (denied) or an unparseable body. */
  denied: number;
  /** Stream resets, session errors, timeouts. */
  transport: number;
  /** Paced mode only: sends skipped because the in-flight cap was reached (the target fell behind). */
  skipped: number;
  /** Sampled full decodes that disagreed with the cheap wire check. */
  decodeMismatch: number;
  /** The first few failure descriptions, for the console. */
  examples: string[];
}

export interface GeneratorResult {
  /** Completed OK checks inside the measured window. */
  checks: number;
  windowS: number;
  checksPerS: number;
  /** From the moment the request was handed to HTTP/2 to the end of the response. */
  latency: LatencySummary;
  /** Paced mode: from the moment the request was due (includes any lateness of the generator). */
  latencyFromSchedule?: LatencySummary;
  /** Inside the measured window: any failure makes the run invalid. */
  failures: Failures;
  /** During warm-up (and the drain after the window): reported, but not part of the figures. */
  outsideWindowFailures: Failures;
  /** OK responses over the whole run, warm-up and drain included. */
  totalOk: number;
  sampledDecodes: number;
  /** process.cpuUsage() over the measured window. */
  cpuS: number;
  /** Largest number of requests in flight at once. */
  maxInFlight: number;
}

/** One JSON object per stdout line from the generator. */
export type GeneratorEvent =
  | { event: "measuring" }
  | { event: "window-end" }
  | { event: "result"; result: GeneratorResult }
  | { event: "fatal"; message: string };

export function noFailures(): Failures {
  return { http: 0, grpc: 0, denied: 0, transport: 0, skipped: 0, decodeMismatch: 0, examples: [] };
}
