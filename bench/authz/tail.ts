/**
 * The tail against a floor: h2load at fixed rates (--rps) against the service, our own no-op
 * H2GrpcServer and nghttpd (floor.ts), the same schedule for each, latency from h2load's
 * per-request log; and each closed-loop, for throughput as a ratio to the floor and to the no-ops.
 */
import { performance } from "node:perf_hooks";
import {
  cpuSeconds,
  cpuSecondsBetween,
  cpuSecondsByPid,
  type LatencySummary,
  machineBusySeconds,
  waitForQuiet,
} from "@gateway/harness";
import type { Failures } from "./generator-protocol.js";
import { runH2load } from "./h2load.js";
import type { Target } from "./launch.js";
import { failureCount } from "./results.js";

export const TAIL_RATES = [1_000, 5_000, 12_000] as const;
export const TAIL_CONNECTIONS = 4;
export const TAIL_DURATION_S = 10;
export const TAIL_WARMUP_S = 2;
/** Closed-loop runs for the throughput ratios: shorter, since only their rate is read. */
export const CLOSED_DURATION_S = 5;
export const CLOSED_WARMUP_S = 1;
/** In flight per connection: closed loop as bench:authz's other h2load runs; paced, never the limit. */
export const CLOSED_STREAMS = 16;
export const PACED_STREAMS = 512;

export type TailTarget = "service" | "h2 no-op + Redis" | "h2 no-op" | "grpc-js no-op" | "floor";
/** The paced schedule runs these, in this order at each rate. */
export const PACED_TARGETS: readonly TailTarget[] = ["service", "h2 no-op + Redis", "h2 no-op", "floor"];
export const CLOSED_TARGETS: readonly TailTarget[] = [
  "service",
  "h2 no-op + Redis",
  "h2 no-op",
  "grpc-js no-op",
  "floor",
];

export interface TailRun {
  target: TailTarget;
  /** Requests a second asked of h2load; 0 for closed loop. */
  rate: number;
  checks: number;
  checksPerS: number;
  latency: LatencySummary;
  failures: Failures;
  windowS: number;
  /** Cores' worth of CPU over the window: the target, h2load, Redis, and everything else. */
  cores: { server: number; generator: number; redis: number; other: number };
}

export interface TailContext {
  h2loadPath: string;
  workDir: string;
  /** The hot key's request: h2load sends one body. */
  body: Buffer;
  quietBudget: { remainingS: number };
  log: (message: string) => void;
}

interface Snapshot {
  at: number;
  server: number;
  generator: number;
  redis: Map<number, number>;
  machine: number;
}

function snapshot(serverPid: number, generatorPid: number): Snapshot {
  return {
    at: performance.now(),
    server: cpuSeconds(serverPid),
    generator: cpuSeconds(generatorPid),
    redis: cpuSecondsByPid("redis-server"),
    machine: machineBusySeconds(),
  };
}

export async function runTail(
  ctx: TailContext,
  target: Target,
  name: TailTarget,
  rate: number,
): Promise<TailRun> {
  const closed = rate === 0;
  const warmupS = closed ? CLOSED_WARMUP_S : TAIL_WARMUP_S;
  const durationS = closed ? CLOSED_DURATION_S : TAIL_DURATION_S;
  ctx.log(
    `\n▶ ${name}, ${closed ? "closed loop" : `${rate.toLocaleString("en-US")}/s paced`}: ${warmupS} s warm-up + ${durationS} s`,
  );
  await waitForQuiet(ctx.quietBudget, ctx.log);
  let before: Snapshot | undefined;
  let after: Snapshot | undefined;
  const result = await runH2load(
    {
      path: ctx.h2loadPath,
      port: target.grpcPort,
      body: ctx.body,
      workDir: ctx.workDir,
      concurrency: (closed ? CLOSED_STREAMS : PACED_STREAMS) * TAIL_CONNECTIONS,
      connections: TAIL_CONNECTIONS,
      warmupS,
      durationS,
      rate: closed ? undefined : rate,
    },
    {
      onMeasuring: async (pid) => {
        before = snapshot(target.pid, pid);
      },
      onWindowEnd: async (pid) => {
        after = snapshot(target.pid, pid);
      },
    },
  );
  if (!before || !after) throw new Error(`${name}: h2load ended before its measured window`);
  const windowS = (after.at - before.at) / 1000;
  const server = after.server - before.server;
  const generator = after.generator - before.generator;
  // The no-ops and the floor use no Redis: whatever Redis did then is someone else's.
  const redis = name === "service" ? cpuSecondsBetween(before.redis, after.redis) : 0;
  const other = Math.max(0, after.machine - before.machine - server - generator - redis);
  const run: TailRun = {
    target: name,
    rate,
    checks: result.checks,
    checksPerS: result.checksPerS,
    latency: result.latency,
    failures: result.failures,
    windowS,
    cores: {
      server: server / windowS,
      generator: generator / windowS,
      redis: redis / windowS,
      other: other / windowS,
    },
  };
  const l = run.latency;
  ctx.log(
    `  ${Math.round(run.checksPerS)}/s; p50 ${ms(l.p50Us)}, p99 ${ms(l.p99Us)}, p99.9 ${ms(l.p999Us)}, max ${ms(l.maxUs)} ms; ` +
      `cores: server ${run.cores.server.toFixed(2)}, h2load ${run.cores.generator.toFixed(2)}, other ${run.cores.other.toFixed(2)}` +
      (failureCount(run.failures) > 0
        ? `; ${failureCount(run.failures)} FAILURES: ${run.failures.examples.join("; ")}`
        : ""),
  );
  return run;
}

/** Closed loop for each target, then each rate for each target in turn, so drift hits all alike. */
export async function measureTail(ctx: TailContext, targets: Record<TailTarget, Target>): Promise<TailRun[]> {
  const runs: TailRun[] = [];
  for (const name of CLOSED_TARGETS) runs.push(await runTail(ctx, targets[name], name, 0));
  for (const rate of TAIL_RATES) {
    for (const name of PACED_TARGETS) runs.push(await runTail(ctx, targets[name], name, rate));
  }
  return runs;
}

const ms = (us: number) => (us / 1000).toFixed(2);
