import { describe, expect, test } from "vitest";
import { KeyCache } from "../src/authz/key-cache.js";
import { authKey } from "./auth-key.js";

const key = (id: string) => authKey({ id });

describe("the key cache's index of hashes by key", () => {
  test("evicting a key forgets its current and its rotated-out secret, and no other key's", () => {
    const cache = new KeyCache(10);
    const a = key("key_a");
    cache.set("h_new", a, 1);
    cache.set("h_old", a, 1);
    cache.set("h_new", a, 2); // refreshed: still one entry
    cache.set("h_b", key("key_b"), 1);
    cache.evictKey("key_a");
    expect(cache.get("h_new")).toBeUndefined();
    expect(cache.get("h_old")).toBeUndefined();
    expect(cache.get("h_b")?.key?.id).toBe("key_b");
    expect(cache.size).toBe(1);
  });

  test("a hash dropped as least recently used leaves the key's other hash evictable", () => {
    const cache = new KeyCache(2);
    const a = key("key_a");
    cache.set("h_old", a, 1);
    cache.set("h_new", a, 1);
    cache.set("h_b", key("key_b"), 1); // pushes h_old out
    expect(cache.get("h_old")).toBeUndefined();
    cache.evictKey("key_a");
    expect(cache.get("h_new")).toBeUndefined();
    expect(cache.get("h_b")?.key?.id).toBe("key_b");
    // A key whose only hash was dropped, then cached again, is evicted as well.
    cache.set("h_c", key("key_c"), 1); // pushes h_b out
    cache.set("h_b", key("key_b"), 2);
    cache.evictKey("key_b");
    expect(cache.get("h_b")).toBeUndefined();
    expect(cache.get("h_c")?.key?.id).toBe("key_c");
  });
});
