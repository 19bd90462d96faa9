import { resolve } from "node:path";
import { integerSetting, loopbackUrl } from "@gateway/harness";

export interface VerifyOptions {
  keys: number;
  connections: number;
  warmupS: number;
  closedS: number;
  pacedS: number;
  /** Requests per second in the paced phase. */
  rate: number;
  pgUrl: string;
  redisUrl: string;
  /** The document whose delimited section this benchmark replaces. */
  output: string;
}

/** Settings from BENCH_VERIFY_* (and the shared BENCH_PG_URL, BENCH_REDIS_URL, BENCH_OUTPUT), each bounded. */
export function readVerifyOptions(repoRoot: string): VerifyOptions {
  return {
    keys: integerSetting("BENCH_VERIFY_KEYS", 1_000, 1, 100_000),
    connections: integerSetting("BENCH_VERIFY_CONNECTIONS", 10, 1, 1_000),
    warmupS: integerSetting("BENCH_VERIFY_WARMUP_S", 5, 1, 60),
    closedS: integerSetting("BENCH_VERIFY_CLOSED_S", 10, 1, 300),
    pacedS: integerSetting("BENCH_VERIFY_PACED_S", 20, 1, 300),
    rate: integerSetting("BENCH_VERIFY_RATE", 1_000, 1, 100_000),
    pgUrl: loopbackUrl("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test"),
    redisUrl: loopbackUrl("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
    output: resolve(repoRoot, process.env.BENCH_OUTPUT || "docs/PERFORMANCE.md"),
  };
}
