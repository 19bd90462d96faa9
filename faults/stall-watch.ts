/**
 * Records when this process's event loop stopped turning, and whether the process was busy then or
 * simply not given a core. The client and the service share the loop in these tests, so a stall
 * delays both; on a shared two-core machine most long stalls are other processes' load.
 */
export interface Stall {
  /** performance.now() when the loop last turned before the stall, and when it turned again. */
  from: number;
  to: number;
  ms: number;
  /** CPU time the process used meanwhile, all threads (GC included). */
  cpuMs: number;
}

export class StallWatch {
  readonly stalls: Stall[] = [];
  private readonly timer: NodeJS.Timeout;
  private last = performance.now();
  private lastCpu = process.cpuUsage();

  constructor(tickMs = 5, minMs = 20) {
    this.timer = setInterval(() => {
      const now = performance.now();
      const cpu = process.cpuUsage();
      const ms = now - this.last;
      if (ms >= minMs) {
        const cpuMs = (cpu.user - this.lastCpu.user + cpu.system - this.lastCpu.system) / 1_000;
        this.stalls.push({ from: this.last, to: now, ms, cpuMs });
      }
      this.last = now;
      this.lastCpu = cpu;
    }, tickMs);
  }

  /** Stalls of at least `minMs` during [from, to]. */
  during(from: number, to: number, minMs = 0): Stall[] {
    return this.stalls.filter((s) => s.ms >= minMs && s.from < to && s.to > from);
  }

  /** Of [from, to], the time the process spent stalled without running: the OS gave the core to others. */
  starvedMs(from: number, to: number): number {
    let total = 0;
    for (const s of this.during(from, to)) {
      if (s.cpuMs >= s.ms / 2) continue;
      total += Math.min(s.to, to) - Math.max(s.from, from);
    }
    return total;
  }

  /** The longest stall; 0 when none reached the recording threshold (20 ms by default). */
  get maxMs(): number {
    return Math.max(0, ...this.stalls.map((s) => s.ms));
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
