/**
 * Runs a piece of periodic work (a flush, a poll) one run at a time. A call made while a run is
 * under way waits for it and then runs the work once more, one follow-up shared by every call made
 * meanwhile: a run reads what there is when it begins, so what a call returns covers everything that
 * happened before the call, which a caller that flushes and then reads the result relies on.
 */
export class SerialRunner {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

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

  /** Resolves once the run under way, and the one queued after it, are over (never rejects). */
  idle(): Promise<void> {
    return (this.next ?? this.running ?? Promise.resolve()).catch(() => {});
  }
}
