/**
 * The load generator, in its own process so it never shares an event loop with what it measures.
 * Reads a GeneratorConfig (JSON) on stdin, drives each phase with autocannon, and writes one
 * GeneratorEvent per line on stdout.
 */

import { performance } from "node:perf_hooks";
import { text } from "node:stream/consumers";
import { Histogram } from "@gateway/harness";
import autocannon from "autocannon";
import { paceClient } from "./pacing.js";
import type { GeneratorConfig, GeneratorEvent, PhaseResult, PhaseSpec } from "./protocol.js";

/** Time for the connections to open before the first paced slot. */
const PACED_START_DELAY_MS = 20;

function emit(event: GeneratorEvent): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}

/** `valid`, `200 <code>` or the status; a body that is not the verify answer counts as `200 unreadable`. */
function outcomeOf(status: number, body: string): string {
  if (status !== 200) return String(status);
  try {
    const answer = JSON.parse(body) as { valid?: unknown; code?: unknown };
    return answer.valid === true && answer.code === "VALID" ? "valid" : `200 ${String(answer.code)}`;
  } catch {
    return "200 unreadable";
  }
}

/** Each connection walks every body, starting at its own offset, so the keys are spread evenly at any moment. */
function requestsFor(config: GeneratorConfig, connection: number, tally: (outcome: string) => void) {
  const n = config.bodies.length;
  const offset = Math.floor((connection * n) / config.connections);
  const onResponse = (status: number, body: string) => tally(outcomeOf(status, body));
  return Array.from({ length: n }, (_, i) => ({ body: config.bodies[(offset + i) % n], onResponse }));
}

function runPhase(config: GeneratorConfig, phase: PhaseSpec): Promise<PhaseResult> {
  const outcomes: Record<string, number> = {};
  const tally = (outcome: string) => {
    outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
  };
  const latency = new Histogram();
  const fromSlot = new Histogram();
  let lateSends = 0;
  let responses = 0;
  const slots = {
    startMs: performance.now() + PACED_START_DELAY_MS,
    rate: phase.rate,
    connections: config.connections,
  };
  let connection = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: config.url,
        method: "POST",
        headers: { authorization: config.authorization, "content-type": "application/json" },
        connections: config.connections,
        pipelining: 1,
        duration: phase.durationS,
        setupClient: (client) => {
          const index = connection++;
          client.setRequests(requestsFor(config, index, tally));
          if (phase.rate > 0) {
            paceClient(client, index, slots, {
              answered: (ms, late) => {
                fromSlot.record(ms * 1_000);
                if (late) lateSends++;
              },
            });
          }
        },
      },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        resolve({
          name: phase.name,
          durationS: result.duration,
          responses,
          outcomes,
          // autocannon counts a timeout as an error too.
          errors: result.errors - result.timeouts,
          timeouts: result.timeouts,
          latency: latency.summary(),
          fromSlot: phase.rate > 0 ? fromSlot.summary() : undefined,
          lateSends,
        });
      },
    );
    instance.on("response", (_client, _status, _bytes, responseTimeMs) => {
      responses++;
      latency.record(responseTimeMs * 1_000);
    });
  });
}

try {
  const config = JSON.parse(await text(process.stdin)) as GeneratorConfig;
  for (const phase of config.phases) {
    emit({ event: "phase-start", name: phase.name });
    emit({ event: "phase-end", result: await runPhase(config, phase) });
  }
} catch (err) {
  emit({ event: "fatal", message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  process.exitCode = 1;
}
