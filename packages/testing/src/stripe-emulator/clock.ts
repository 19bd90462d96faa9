/** A clock a test moves by hand; pass `clock.now` as the emulator's `now` option. */
export interface ManualClock {
  /** Milliseconds since the Unix epoch, like Date.now(). */
  now(): number;
  set(ms: number | Date): void;
  advance(ms: number): void;
}

export function manualClock(start: number | Date = Date.now()): ManualClock {
  let current = typeof start === "number" ? start : start.getTime();
  return {
    now: () => current,
    set: (ms) => {
      current = typeof ms === "number" ? ms : ms.getTime();
    },
    advance: (ms) => {
      current += ms;
    },
  };
}
