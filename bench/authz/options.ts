import { resolve } from "node:path";
import { integerSetting, loopbackUrl } from "@gateway/harness";
import type { BenchOptions } from "./results.js";

/** Settings from BENCH_* environment variables, each bounded. */
export function readOptions(repoRoot: string): BenchOptions {
  return {
    durationS: integerSetting("BENCH_DURATION_S", 20, 1, 300),
    warmupS: integerSetting("BENCH_WARMUP_S", 5, 1, 60),
    concurrency: integerSetting("BENCH_CONCURRENCY", 64, 1, 4_096),
    connections: integerSetting("BENCH_CONNECTIONS", 4, 1, 64),
    keys: integerSetting("BENCH_KEYS", 10_000, 1, 1_000_000),
    pacedCap: 2_048,
    pgUrl: loopbackUrl("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test"),
    redisUrl: loopbackUrl("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
    output: resolve(repoRoot, process.env.BENCH_OUTPUT || "docs/PERFORMANCE.md"),
  };
}
