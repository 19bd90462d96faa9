import { defineConfig } from "vitest/config";

/**
 * The fault suite (faults/): stops, kills and restarts dependencies and services under load and
 * measures recovery. Apart from `pnpm test`: slower, timing-sensitive, and one file at a time so the
 * measurements do not compete with each other for the two cores.
 */
export default defineConfig({
  test: {
    globalSetup: ["./packages/testing/src/global-setup.ts"],
    include: ["faults/**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/dist/**"],
    testTimeout: 40_000,
    hookTimeout: 30_000,
    fileParallelism: false,
  },
});
