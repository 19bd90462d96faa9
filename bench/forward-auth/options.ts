import { resolve } from "node:path";
import { integerSetting, loopbackUrl } from "@gateway/harness";

export interface ForwardAuthOptions {
  /** HTTP/1.1 keep-alive connections h2load opens, in every run. */
  connections: number;
  warmupS: number;
  closedS: number;
  pacedS: number;
  /** The paced rates, requests per second over all connections. */
  rates: number[];
  pgUrl: string;
  redisUrl: string;
  /** The document whose delimited section this benchmark replaces. */
  output: string;
}

/** Settings from BENCH_FORWARD_AUTH_* (and the shared BENCH_PG_URL, BENCH_REDIS_URL, BENCH_OUTPUT), each bounded. */
export function readForwardAuthOptions(repoRoot: string): ForwardAuthOptions {
  return {
    connections: integerSetting("BENCH_FORWARD_AUTH_CONNECTIONS", 10, 1, 1_000),
    warmupS: integerSetting("BENCH_FORWARD_AUTH_WARMUP_S", 3, 1, 60),
    closedS: integerSetting("BENCH_FORWARD_AUTH_CLOSED_S", 10, 1, 300),
    pacedS: integerSetting("BENCH_FORWARD_AUTH_PACED_S", 10, 1, 300),
    rates: [1_000, 5_000],
    pgUrl: loopbackUrl("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test"),
    redisUrl: loopbackUrl("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
    output: resolve(repoRoot, process.env.BENCH_OUTPUT || "docs/PERFORMANCE.md"),
  };
}
