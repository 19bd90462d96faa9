import type { LatencySummary } from "@gateway/harness";

/** One stretch of load from one generator process. `rate` 0 is a closed loop. */
export interface PhaseSpec {
  name: "warm-up" | "closed" | "paced";
  durationS: number;
  /** Requests per second over all connections, evenly spaced (see pacing.ts); 0 for a closed loop. */
  rate: number;
}

/** What the orchestrator sends a generator on its stdin, as one JSON document. */
export interface GeneratorConfig {
  url: string;
  /** `Authorization` header value; kept off the command line. */
  authorization: string;
  /** JSON request bodies, one per key; each connection walks all of them from its own offset. */
  bodies: string[];
  connections: number;
  phases: PhaseSpec[];
}

export interface PhaseResult {
  name: PhaseSpec["name"];
  /** From autocannon's start to its stop, as autocannon timed it. */
  durationS: number;
  responses: number;
  /** Answers by outcome: `valid` (200 with valid: true and code VALID), `200 <code>`, or the HTTP status. */
  outcomes: Record<string, number>;
  /** Connection errors other than timeouts. */
  errors: number;
  /** Requests with no answer within autocannon's timeout (10 s). */
  timeouts: number;
  /** From writing the request to the last byte of the answer. */
  latency: LatencySummary;
  /** Paced phases only: from the request's slot in the schedule to the last byte of the answer. */
  fromSlot: LatencySummary | undefined;
  /** Paced phases only: requests that left more than LATE_MS after their slot. */
  lateSends: number;
}

export type GeneratorEvent =
  | { event: "phase-start"; name: PhaseSpec["name"] }
  | { event: "phase-end"; result: PhaseResult }
  | { event: "fatal"; message: string };

/** Outcome counts that are anything but a valid answer. */
export function badOutcomes(result: PhaseResult): number {
  let bad = result.errors + result.timeouts;
  for (const [outcome, n] of Object.entries(result.outcomes)) if (outcome !== "valid") bad += n;
  return bad;
}
