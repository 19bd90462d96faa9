import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    globalSetup: ["./packages/testing/src/global-setup.ts"],
    include: ["**/*.test.ts"],
    // faults/ is its own suite: vitest.faults.config.ts.
    exclude: ["**/node_modules/**", "**/dist/**", "faults/**"],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Two cores: more workers only contend with Postgres and Redis for them.
    maxWorkers: 2,
  },
});
