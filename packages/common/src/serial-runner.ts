/**
 * Runs a piece of periodic work (a flush, a poll) one run at a time. A call made while a run is
 * under way waits for it and then runs the work once more, one follow-up shared by every call made
 * meanwhile: a run reads what there is when it begins, so what a call returns covers everything that
 * happened before the call, which a caller that flushes and then reads the result relies on.
 *
 * `every(ms)` also runs it on a timer, as each flusher and poller of the services does; the work is
 * then expected to report its own failures (a timed run's rejection is not caught).
 */
export class SerialRunner {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly work: () => Promise<void>) {}

  run(): Promise<void> {
    if (this.running) {
      const again = () => {
        this.next = undefined;
        return this.run();
      };
      this.next ??= this.running.then(again, again);
      return this.next;
    }
    const running = this.work().finally(() => {
      this.running = undefined;
    });
    this.running = running;
    return running;
  }

  /** Runs the work every `intervalMs` as well, until stop(); the timer does not keep the process alive. */
  every(intervalMs: number): void {
    clearInterval(this.timer);
    this.timer = setInterval(() => void this.run(), intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and resolves once the runs under way are over (never rejects). */
  stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    return this.idle();
  }

  /** Resolves once the run under way, and the one queued after it, are over (never rejects). */
  idle(): Promise<void> {
    return (this.next ?? this.running ?? Promise.resolve()).catch(() => {});
  }
}
