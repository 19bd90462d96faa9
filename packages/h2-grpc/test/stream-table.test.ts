import { describe, expect, test } from "vitest";
import { StreamTable } from "../src/stream-table.js";

interface Stream {
  readonly id: number;
}

/** Odd ids from 1, as a client opens streams. */
function opener(): () => Stream {
  let next = 1;
  return () => {
    const stream = { id: next };
    next += 2;
    return stream;
  };
}

/** The same operations on a StreamTable and on a Map, compared after each step. */
function compareWithMap(seed: number, steps: number, opts: { mostSlots?: number; keepOpen?: number } = {}) {
  const table = new StreamTable<Stream>(opts.mostSlots);
  const model = new Map<number, Stream>();
  const open = opener();
  let state = seed;
  const random = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  let highest = 0;
  for (let i = 0; i < steps; i++) {
    // Opens a little more often than it closes while under keepOpen streams: the count wanders.
    if (model.size < (opts.keepOpen ?? 50) || random() < 0.45) {
      const stream = open();
      table.add(stream);
      model.set(stream.id, stream);
      highest = stream.id;
    } else {
      const ids = [...model.keys()];
      const id = ids[Math.floor(random() * ids.length)] as number;
      table.delete(model.get(id) as Stream);
      model.delete(id);
    }
    const probe = 1 + 2 * Math.floor(random() * ((highest + 1) / 2));
    expect(table.get(probe)).toBe(model.get(probe));
    expect(table.size).toBe(model.size);
  }
  expect(new Set(table.list())).toEqual(new Set(model.values()));
}

describe("StreamTable", () => {
  test("finds what a Map finds, through any order of opens and closes", () => {
    for (const seed of [1, 2, 3]) compareWithMap(seed, 5_000);
    compareWithMap(4, 5_000, { keepOpen: 700 });
  });

  test("with few slots, streams that share one are all still found", () => {
    compareWithMap(5, 3_000, { mostSlots: 4, keepOpen: 20 });
  });

  test("a stream open while 100,000 later ones come and go is found until it closes", () => {
    const table = new StreamTable<Stream>();
    const open = opener();
    const watch = open();
    table.add(watch);
    for (let i = 0; i < 100_000; i++) {
      const call = open();
      table.add(call);
      expect(table.get(call.id)).toBe(call);
      table.delete(call);
    }
    expect(table.get(watch.id)).toBe(watch);
    expect(table.list()).toEqual([watch]);
    table.delete(watch);
    expect(table.size).toBe(0);
    expect(table.get(watch.id)).toBeUndefined();
  });

  test("a stream deleted twice, or never added, changes nothing", () => {
    const table = new StreamTable<Stream>();
    const open = opener();
    const a = open();
    const b = open();
    table.add(a);
    table.delete(b);
    table.delete(a);
    table.delete(a);
    expect(table.size).toBe(0);
  });

  test("the list is the caller's: closing streams while walking it misses none", () => {
    const table = new StreamTable<Stream>(8);
    const open = opener();
    for (let i = 0; i < 30; i++) table.add(open());
    let closed = 0;
    for (const stream of table.list()) {
      table.delete(stream);
      closed++;
    }
    expect(closed).toBe(30);
    expect(table.size).toBe(0);
    expect(table.list()).toEqual([]);
  });
});
