/**
 * Every few seconds: VmRSS and CPU time of api-key-service and billing-sidecar from /proc, their V8
 * heap in use from /metrics (as a Prometheus scrape would), and sum(requests) in usage_minutes (for
 * the ingest lag). Ticks are anchored on the traffic's start, and extra samples land exactly when the
 * warm-up and the measured time end.
 */
import type { BenchPostgres } from "@gateway/bench/billing";
import { cpuSeconds, machineBusySeconds, memoryOf, scrapeMetrics } from "@gateway/harness";
import type { MemorySummary, ProcessSample, Sample } from "./results.js";

interface Watched {
  pid: number;
  httpPort: number;
}

async function processSample({ pid, httpPort }: Watched): Promise<ProcessSample | undefined> {
  const memory = memoryOf(pid);
  let cpuS: number;
  try {
    cpuS = cpuSeconds(pid);
  } catch {
    return undefined; // exited
  }
  if (!memory) return undefined;
  const metrics = await scrapeMetrics(httpPort).catch(() => undefined);
  const heap = metrics?.get("nodejs_heap_size_used_bytes");
  return {
    rssKiB: memory.rssKiB,
    cpuS,
    heapUsedKiB: heap === undefined ? undefined : heap / 1024,
    // prom-client adds the series at the first full collection: a scrape without it means none yet.
    majorGcs: metrics && (metrics.get('nodejs_gc_duration_seconds_count{kind="major"}') ?? 0),
  };
}

export class Sampler {
  readonly samples: Sample[] = [];
  private timers: NodeJS.Timeout[] = [];
  private pending = new Set<Promise<void>>();

  constructor(
    private readonly watched: { service: Watched; sidecar: Watched },
    private readonly db: BenchPostgres,
  ) {}

  /** `at`: when the sample was due; a timer fires a few milliseconds late, and windows end exactly on it. */
  async sample(at = Date.now()): Promise<Sample> {
    const [service, sidecar, usageRequests] = await Promise.all([
      processSample(this.watched.service),
      processSample(this.watched.sidecar),
      // A failed read is a gap in the lag; the final usage check is what counts.
      this.db.totalRequests().catch(() => undefined),
    ]);
    const sample: Sample = { at, service, sidecar, usageRequests, machineBusyS: machineBusySeconds() };
    this.samples.push(sample);
    this.samples.sort((a, b) => a.at - b.at);
    return sample;
  }

  /** Samples at anchor + n × periodMs until `until`, and at each of `extra`. */
  start(anchor: number, periodMs: number, until: number, extra: number[]): void {
    const times: number[] = [];
    for (let at = anchor; at <= until; at += periodMs) times.push(at);
    times.push(...extra.filter((at) => !times.includes(at)));
    for (const at of times) {
      const timer = setTimeout(
        () => {
          const work = this.sample(at).then(() => {});
          this.pending.add(work);
          void work.finally(() => this.pending.delete(work));
        },
        Math.max(0, at - Date.now()),
      );
      this.timers.push(timer);
    }
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    await Promise.all(this.pending);
  }
}

const lowest = (values: number[]) => (values.length === 0 ? 0 : Math.min(...values));

/**
 * Start: the lowest RSS in the first half of the measured time; end: the lowest in the second half.
 * Node's RSS saws up and down between major garbage collections (the sidecar's by a third, over a
 * minute or two), so a sample, or a mean over a shorter span, measures where in that cycle it fell;
 * the floor the process returns to is what a leak raises. The same goes for the V8 heap in use.
 */
export function summarizeMemory(
  samples: readonly Sample[],
  which: "service" | "sidecar",
  times: { t0: number; measuredFrom: number; measuredTo: number },
  hwmKiB: number,
): MemorySummary {
  const points = samples.flatMap((s) => {
    const p = s[which];
    return p ? [{ at: s.at, ...p }] : [];
  });
  const middle = (times.measuredFrom + times.measuredTo) / 2;
  const first = points.filter((p) => p.at >= times.measuredFrom && p.at <= middle);
  const second = points.filter((p) => p.at > middle && p.at <= times.measuredTo);
  const heap = (list: typeof points) =>
    lowest(list.flatMap((p) => (p.heapUsedKiB === undefined ? [] : [p.heapUsedKiB])));
  const startKiB = lowest(first.map((p) => p.rssKiB));
  const endKiB = lowest(second.map((p) => p.rssKiB));
  const run = points.filter((p) => p.at >= times.t0 && p.at <= times.measuredTo);
  const gcsAt = (at: number) => points.find((p) => p.at >= at)?.majorGcs;
  const gcsBetween = (from: number, to: number) => {
    const a = gcsAt(from);
    const b = gcsAt(to);
    return a === undefined || b === undefined ? undefined : b - a;
  };
  return {
    startKiB,
    endKiB,
    growth: startKiB > 0 ? endKiB / startKiB - 1 : 0,
    heapStartKiB: heap(first),
    heapEndKiB: heap(second),
    peakKiB: Math.max(0, ...run.map((p) => p.rssKiB)),
    hwmKiB,
    idleKiB: points.find((p) => p.at < times.t0)?.rssKiB ?? 0,
    cpuS: run.length > 1 ? (run.at(-1)?.cpuS ?? 0) - (run[0]?.cpuS ?? 0) : 0,
    majorGcs: {
      warmup: gcsBetween(times.t0, times.measuredFrom),
      measured: gcsBetween(times.measuredFrom, times.measuredTo),
    },
  };
}

/** Cores' worth of CPU the whole machine was busy between the two samples nearest `from` and `to`. */
export function machineBusyCores(samples: readonly Sample[], from: number, to: number): number {
  const a = samples.find((s) => s.at >= from);
  const b = samples.findLast((s) => s.at <= to);
  if (!a || !b || b.at <= a.at) return 0;
  return (b.machineBusyS - a.machineBusyS) / ((b.at - a.at) / 1000);
}
