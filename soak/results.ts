import type { GeneratorResult } from "@gateway/bench/authz";
import type { MachineInfo } from "@gateway/harness";
import type { SoakOptions } from "./options.js";

const EXAMPLES_PER_KIND = 3;

/**
 * Every error of the run by kind, with the first few descriptions of each, split at the end of the
 * warm-up: the target is zero errors from then on (the measured time and the checks after it), while
 * those of the warm-up, cold caches included, are reported beside them.
 */
export class ErrorLog {
  readonly counts = new Map<string, { warmup: number; measured: number }>();
  /** The first few descriptions of each kind, after the warm-up first, then during it. */
  readonly examples = new Map<string, { warmup: string[]; measured: string[] }>();

  constructor(private readonly measuredFrom: number) {}

  /** `at` (Date.now() scale) decides the phase: when the error happened, not when it was noticed. */
  add(kind: string, detail: string, count = 1, at = Date.now()): void {
    if (count <= 0) return;
    const phase = at < this.measuredFrom ? "warmup" : "measured";
    const counts = this.counts.get(kind) ?? { warmup: 0, measured: 0 };
    counts[phase] += count;
    this.counts.set(kind, counts);
    const examples = this.examples.get(kind) ?? { warmup: [], measured: [] };
    if (examples[phase].length < EXAMPLES_PER_KIND) examples[phase].push(detail);
    this.examples.set(kind, examples);
  }

  /** Errors from the end of the warm-up on: what the target counts. */
  get total(): number {
    let n = 0;
    for (const count of this.counts.values()) n += count.measured;
    return n;
  }

  get warmupTotal(): number {
    let n = 0;
    for (const count of this.counts.values()) n += count.warmup;
    return n;
  }
}

/** One Check generator process: the warm-up, or one minute of the measured time. */
export interface CheckWindow {
  label: string;
  measured: boolean;
  startAtMs: number;
  plannedS: number;
  result: GeneratorResult | undefined;
  /** Why the generator gave no result. */
  error: string | undefined;
}

/** One process's resident memory, V8 heap in use and CPU time at one instant. */
export interface ProcessSample {
  rssKiB: number;
  cpuS: number;
  /** nodejs_heap_size_used_bytes from its /metrics, when the scrape answered. */
  heapUsedKiB: number | undefined;
  /** Full (mark-compact) collections so far, from nodejs_gc_duration_seconds_count{kind="major"}. */
  majorGcs: number | undefined;
}

export interface Sample {
  at: number;
  service: ProcessSample | undefined;
  sidecar: ProcessSample | undefined;
  /** sum(requests) in usage_minutes, or undefined when the query failed. */
  usageRequests: number | undefined;
  /** Busy CPU seconds of the whole machine so far (/proc/stat). */
  machineBusyS: number;
}

/** Start and end are the lowest samples in each half of the measured time (see summarizeMemory). */
export interface MemorySummary {
  startKiB: number;
  endKiB: number;
  growth: number;
  heapStartKiB: number;
  heapEndKiB: number;
  peakKiB: number;
  /** VmHWM at the end: the kernel's own peak, between samples too. */
  hwmKiB: number;
  /** Before any traffic, right after the process was ready. */
  idleKiB: number;
  /** From the start of the warm-up to the end of the measured time. */
  cpuS: number;
  /** Full collections during the warm-up and during the measured time (undefined: not scraped). */
  majorGcs: { warmup: number | undefined; measured: number | undefined };
}

export interface ChangeKindStats {
  calls: number;
  failed: number;
  maxMs: number;
  totalMs: number;
}

export interface ChurnSummary {
  ops: Record<string, ChangeKindStats>;
  /** Each op's completion time, for per-minute counts. */
  opTimes: number[];
  probes: number;
  /** Time from a revoke (or a zero-grace rotation) answering to the first denied check. */
  maxDenyMs: number;
  denials: number;
}

export interface BillingSummary {
  entries: number;
  counted: number;
  usageRequests: number;
  entriesByResult: Record<string, number>;
  batches: Record<string, number>;
  drainS: number | undefined;
  stripe: {
    windows: number;
    events: number;
    calls: number;
    corrections: number;
    outbox: Record<string, number>;
    deliveredS: number | undefined;
  };
}

export interface SoakReport {
  startedAt: Date;
  wallS: number;
  machine: MachineInfo;
  options: SoakOptions;
  seedS: number;
  windows: CheckWindow[];
  samples: Sample[];
  /** How far usage_minutes was behind the access log sent, at each sample during the traffic. */
  ingestLags: { at: number; lagS: number }[];
  /** Date.now() when traffic started, when the warm-up ended and when the measured time ended. */
  t0: number;
  measuredFrom: number;
  measuredTo: number;
  memory: { service: MemorySummary; sidecar: MemorySummary };
  /** Cores' worth of CPU the whole machine was busy over the measured time. */
  machineBusyCores: number;
  churn: ChurnSummary;
  billing: BillingSummary;
  checkDecisions: Record<string, number>;
  errors: ErrorLog;
  /** Generators that died while their target was up: the harness, not the system, failed. */
  harnessErrors: string[];
  serviceSettings: { keyCacheTtlS: number };
  sidecarSettings: {
    flushIntervalMs: number;
    stripeWindowMs: number;
    stripeSettleMs: number;
    /** DEDUPE_WINDOW_ENTRIES: request ids remembered; the window grows until it holds this many. */
    dedupeEntries: number;
  };
}

export const MAX_GROWTH = 0.1;
export const MAX_DENY_MS = 1_000;
