import { randomBytes } from "node:crypto";
import { test as base, inject } from "vitest";
import { createTestDatabase } from "./databases.js";

export interface TestServices {
  /** A database of this test's own, migrated, dropped after the test. */
  databaseUrl: string;
  redisUrl: string;
  /** Prefix every Redis key with this; no other test uses it. */
  redisPrefix: string;
}

/** vitest's `test`, with `services` isolated per test. */
export const test = base.extend<{ services: TestServices }>({
  // biome-ignore lint/correctness/noEmptyPattern: vitest fixtures must destructure their first argument
  services: async ({}, use) => {
    const database = await createTestDatabase(inject("databaseUrl"), inject("templateDatabase"));
    try {
      await use({
        databaseUrl: database.url,
        redisUrl: inject("redisUrl"),
        redisPrefix: `test:${randomBytes(6).toString("hex")}:`,
      });
    } finally {
      await database.drop();
    }
  },
});

export { describe, expect } from "vitest";
