import { memoryOf, sleep } from "@gateway/harness";
import type { PostgresSample } from "./lag.js";
import type { BenchPostgres } from "./postgres.js";

const POLL_MS = 250;

/** Samples sum(requests) and the sidecar's memory every POLL_MS until stopped. */
export class Watcher {
  readonly samples: PostgresSample[] = [];
  readonly memory: { at: number; rssKiB: number }[] = [];
  private running = true;
  private readonly done: Promise<void>;
  error: string | undefined;

  constructor(db: BenchPostgres, baseline: number, sidecarPid: number) {
    this.done = (async () => {
      while (this.running) {
        const at = Date.now();
        const memory = memoryOf(sidecarPid);
        if (memory) this.memory.push({ at, rssKiB: memory.rssKiB });
        try {
          this.samples.push({ at, requests: (await db.totalRequests()) - baseline });
        } catch (err) {
          this.error = `polling Postgres failed: ${err instanceof Error ? err.message : String(err)}`;
          return;
        }
        await sleep(Math.max(0, POLL_MS - (Date.now() - at)));
      }
    })();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }
}

/**
 * Requests a second into Postgres: the least-squares slope of sum(requests) over the window's
 * samples. The sum grows in steps (one write per flush interval), so the difference between the
 * first and last sample would be off by up to a flush's worth.
 */
export function slopePerS(samples: readonly PostgresSample[]): number {
  const n = samples.length;
  if (n < 2) return 0;
  const meanT = samples.reduce((a, s) => a + s.at, 0) / n;
  const meanY = samples.reduce((a, s) => a + s.requests, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of samples) {
    num += (s.at - meanT) * (s.requests - meanY);
    den += (s.at - meanT) ** 2;
  }
  return den > 0 ? (num / den) * 1000 : 0;
}
