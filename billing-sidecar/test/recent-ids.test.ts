import fc from "fast-check";
import { LRUCache } from "lru-cache";
import { describe, expect, it } from "vitest";
import { RecentIds } from "../src/usage/recent-ids.js";

describe("recent request ids", () => {
  it("remember the last ids and forget the oldest first", () => {
    const recent = new RecentIds(2);
    expect(recent.add("a")).toBe(true);
    expect(recent.add("b")).toBe(true);
    expect(recent.add("a")).toBe(false); // seen: not refreshed
    expect(recent.add("c")).toBe(true); // forgets a, the oldest
    expect(recent.add("a")).toBe(true);
    expect(recent.add("c")).toBe(false);
    expect(recent.size).toBe(2);
  });

  it("drop exactly what the LRU cache they replace dropped (checked with has, then set)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.constantFrom("a", "b", "c", "d", "e", "f", "g", "h", "i", "j"), { maxLength: 200 }),
        (capacity, ids) => {
          const recent = new RecentIds(capacity);
          const lru = new LRUCache<string, true>({ max: capacity });
          for (const id of ids) {
            const duplicate = lru.has(id);
            if (!duplicate) lru.set(id, true);
            expect(recent.add(id)).toBe(!duplicate);
          }
        },
      ),
    );
  });
});
