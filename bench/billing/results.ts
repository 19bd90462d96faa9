import type { MachineInfo } from "@gateway/harness";
import { NOISY_CORES } from "../authz/results.js";
import type { AlsGeneratorResult } from "./generator-protocol.js";
import type { BillingBenchOptions, StripeMode } from "./options.js";

/** The target: this many entries a second ingested, sustained, with at most MAX_LAG_S lag. */
export const TARGET_RATE = 50_000;
export const MAX_LAG_S = 2;
/** A step must send at least this share of its target rate: less means the sidecar pushed back. */
export const MIN_SENT_SHARE = 0.98;

export interface CpuSeconds {
  generator: number;
  sidecar: number;
  /** Every postgres process alive at the end of the window (the server is shared). */
  postgres: number;
  /** The benchmark process itself: Postgres polling, /proc sampling, and the Stripe emulator. */
  orchestrator: number;
  /** All busy CPU time on the machine over the window (/proc/stat). */
  machine: number;
}

export interface LagSummary {
  /** Postgres samples taken from the window's start until everything sent had arrived. */
  samples: number;
  maxS: number;
  meanS: number;
  p90S: number;
}

export interface StepRecord {
  rate: number;
  /** 1 when the step was measured again because a disturbed window failed; the better one is kept. */
  remeasured: number;
  generator: AlsGeneratorResult;
  /** Between the orchestrator's two snapshots, taken on the generator's window events. */
  windowS: number;
  sentPerS: number;
  /** Requests (entries the sidecar counts) that reached usage_minutes per second of the window. */
  postgresPerS: number;
  lag: LagSummary;
  /** From the window's end until Postgres held everything sent; undefined when it never did. */
  drainS: number | undefined;
  /** sum(requests) the step added to usage_minutes once drained, and what the generator sent that counts. */
  totals: { postgres: number; counted: number; entries: number };
  /** als_entries_total by result over the sidecar's whole life (a fresh sidecar per step). */
  entriesByResult: Record<string, number>;
  batches: Record<string, number>;
  /** usage_buffer_rows at the window's end. */
  bufferRowsAtEnd: number;
  eventLoopDelay: { p99Ms: number; maxMs: number } | undefined;
  memory: { peakRssMiB: number; hwmMiB: number; startRssMiB: number };
  cpu: CpuSeconds;
  /** Why the step is not a valid figure (a crash, a lost stream, an over-count, …); empty when valid. */
  errors: string[];
  /** The sidecar's warn/error log lines during the step. */
  sidecarLog: string[];
}

export interface StripeRunRecord {
  mode: StripeMode;
  sendInterval: string;
  concurrency: number;
  expected: number;
  delivered: number;
  /** From spawning the sidecar to the last event the emulator accepted (start-up included). */
  startToAllS: number | undefined;
  /** From spawning the sidecar to its /ready answering. */
  startupS: number;
  /** From the first event to the last one the emulator accepted. */
  firstToLastS: number | undefined;
  /** HTTP requests the emulator received (v2 session creations included). */
  calls: number;
  outbox: Record<string, number>;
  /** Every window delivered once, with the seeded value; empty when exactly once holds. */
  problems: string[];
  cpu: Omit<CpuSeconds, "generator">;
  wallS: number;
  sidecarLog: string[];
}

export interface BillingReport {
  startedAt: Date;
  wallS: number;
  machine: MachineInfo;
  options: BillingBenchOptions;
  sidecarSettings: {
    flushInterval: number;
    batchRows: number;
    bufferRows: number;
    dedupeEntries: number;
    stripeConcurrency: number;
  };
  steps: StepRecord[];
  stripe: StripeRunRecord[];
  quietWait: { waitedS: number; budgetS: number };
}

export const isValidStep = (step: StepRecord) => step.errors.length === 0;

export function isSustained(step: StepRecord): boolean {
  return (
    isValidStep(step) &&
    step.sentPerS >= MIN_SENT_SHARE * step.rate &&
    step.lag.maxS <= MAX_LAG_S &&
    step.totals.postgres === step.totals.counted &&
    (step.entriesByResult.shed ?? 0) === 0
  );
}

/** Busy CPU on the machine charged to none of the processes the step is about. */
export function otherCpu(cpu: CpuSeconds | Omit<CpuSeconds, "generator">): number {
  const generator = "generator" in cpu ? cpu.generator : 0;
  return Math.max(0, cpu.machine - generator - cpu.sidecar - cpu.postgres - cpu.orchestrator);
}

export function isNoisyStep(step: StepRecord): boolean {
  return step.windowS > 0 && otherCpu(step.cpu) / step.windowS > NOISY_CORES;
}

export const isValidStripeRun = (run: StripeRunRecord) => run.problems.length === 0;
