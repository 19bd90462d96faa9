import { describe, expect, test } from "vitest";
import { RacedReads } from "../src/raced-reads.js";

describe("RacedReads", () => {
  test("a read raced the evictions of its own tags made while it was under way, not others' or earlier ones", () => {
    const raced = new RacedReads();
    const early = raced.begin();
    raced.evicted("k:1");
    const late = raced.begin();
    raced.evicted("k:2");

    expect(raced.changedSince(early, "k:1")).toBe(true);
    expect(raced.changedSince(late, "k:1")).toBe(false);
    expect(raced.changedSince(late, "k:3", "k:2")).toBe(true);
    expect(raced.changedSince(late, "u:2")).toBe(false);
    raced.end();
    raced.end();
  });

  test("clearing the cache races every read under way", () => {
    const raced = new RacedReads();
    const read = raced.begin();
    raced.cleared();
    expect(raced.changedSince(read, "anything")).toBe(true);
    expect(raced.changedSince(read)).toBe(true);
    raced.end();
    expect(raced.changedSince(raced.begin())).toBe(false);
  });

  test("an eviction made while no read is under way is not remembered", () => {
    const raced = new RacedReads();
    raced.evicted("k:1");
    const read = raced.begin();
    expect(raced.changedSince(read, "k:1")).toBe(false);
    raced.end();
  });
});
