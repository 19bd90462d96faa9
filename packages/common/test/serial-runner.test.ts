import { describe, expect, test } from "vitest";
import { SerialRunner } from "../src/serial-runner.js";

/** Work whose runs the test finishes one at a time, recording what each saw when it began. */
function controlledWork(state: { value: number }) {
  const seen: number[] = [];
  const finishers: Array<(err?: Error) => void> = [];
  const work = () => {
    seen.push(state.value);
    return new Promise<void>((resolve, reject) => {
      finishers.push((err) => (err ? reject(err) : resolve()));
    });
  };
  const finishNext = async (err?: Error) => {
    await new Promise((resolve) => setImmediate(resolve));
    const finish = finishers.shift();
    if (!finish) throw new Error("no run is under way");
    finish(err);
  };
  return { work, seen, finishNext, waiting: () => finishers.length };
}

describe("SerialRunner", () => {
  test("a call while a run is under way is covered by one more run after it, shared by every such call", async () => {
    const state = { value: 1 };
    const { work, seen, finishNext, waiting } = controlledWork(state);
    const runner = new SerialRunner(work);
    const first = runner.run();
    state.value = 2;
    const second = runner.run();
    const third = runner.run();
    expect(second).toBe(third);
    expect(waiting()).toBe(1);
    await finishNext();
    await first;
    await finishNext();
    await second;
    // The follow-up began after the first run ended, so it saw what the second call came after.
    expect(seen).toEqual([1, 2]);
    expect(waiting()).toBe(0);
  });

  test("calls with nothing under way run at once, one after another", async () => {
    const state = { value: 0 };
    const { work, seen, finishNext } = controlledWork(state);
    const runner = new SerialRunner(work);
    for (let i = 1; i <= 3; i++) {
      state.value = i;
      const run = runner.run();
      await finishNext();
      await run;
    }
    expect(seen).toEqual([1, 2, 3]);
  });

  test("a failed run fails its own callers only; the follow-up still runs", async () => {
    const state = { value: 1 };
    const { work, seen, finishNext } = controlledWork(state);
    const runner = new SerialRunner(work);
    const first = runner.run();
    state.value = 2;
    const second = runner.run();
    await finishNext(new Error("postgres away"));
    await expect(first).rejects.toThrow("postgres away");
    await finishNext();
    await expect(second).resolves.toBeUndefined();
    expect(seen).toEqual([1, 2]);
    await expect(runner.idle()).resolves.toBeUndefined();
  });

  test("idle() waits for the run under way and the one queued after it", async () => {
    const { work, finishNext, waiting } = controlledWork({ value: 0 });
    const runner = new SerialRunner(work);
    void runner.run();
    void runner.run();
    let idle = false;
    const done = runner.idle().then(() => {
      idle = true;
    });
    await finishNext();
    await new Promise((resolve) => setImmediate(resolve));
    expect(idle).toBe(false);
    expect(waiting()).toBe(1);
    await finishNext();
    await done;
    expect(idle).toBe(true);
  });

  test("every() runs the work on a timer, one run at a time, until stop(), which waits for the run under way", async () => {
    let runs = 0;
    let overlapping = 0;
    let active = 0;
    let finished = 0;
    const runner = new SerialRunner(async () => {
      runs++;
      active++;
      if (active > 1) overlapping++;
      await new Promise((resolve) => setTimeout(resolve, 15));
      active--;
      finished++;
    });
    runner.every(2);
    await expect.poll(() => runs, { timeout: 2_000 }).toBeGreaterThanOrEqual(3);
    await runner.stop();
    expect(active).toBe(0);
    const after = finished;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(finished).toBe(after);
    expect(runs).toBe(after);
    expect(overlapping).toBe(0);
  });
});
