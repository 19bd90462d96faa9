import { resolve } from "node:path";
import { integerSetting, loopbackUrl } from "@gateway/harness";

export interface SoakOptions {
  /** Measured time, after the warm-up; cut into one-minute latency windows. */
  durationS: number;
  /** Full traffic before the measured time; memory "start" is taken when it ends. */
  warmupS: number;
  /** Checks a second, paced, over `keys` seeded keys that never change. */
  checkRate: number;
  keys: number;
  /** REST key changes a second (create, patch, rotate, revoke), each followed by its own checks. */
  changeRate: number;
  /** Access-log entries a second into the sidecar, over `alsStreams` streams. */
  alsRate: number;
  alsStreams: number;
  /** RSS and Postgres sampling period. */
  sampleS: number;
  pgUrl: string;
  redisUrl: string;
  output: string;
}

/** Settings from SOAK_* environment variables, each bounded; Postgres and Redis as the benchmarks find them. */
export function readSoakOptions(repoRoot: string): SoakOptions {
  return {
    durationS: integerSetting("SOAK_DURATION_S", 300, 10, 86_400),
    warmupS: integerSetting("SOAK_WARMUP_S", 180, 5, 600),
    checkRate: integerSetting("SOAK_CHECK_RATE", 2_000, 1, 100_000),
    keys: integerSetting("SOAK_KEYS", 1_000, 1, 1_000_000),
    changeRate: integerSetting("SOAK_CHANGE_RATE", 4, 1, 100),
    alsRate: integerSetting("SOAK_ALS_RATE", 10_000, 100, 1_000_000),
    alsStreams: integerSetting("SOAK_ALS_STREAMS", 4, 1, 64),
    sampleS: 5,
    pgUrl: loopbackUrl("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test"),
    redisUrl: loopbackUrl("BENCH_REDIS_URL", "redis://127.0.0.1:6379"),
    output: resolve(repoRoot, process.env.SOAK_OUTPUT || "docs/SOAK.md"),
  };
}

/** The command that reproduces a run with these settings (defaults left out). */
export function reproduceCommand(options: SoakOptions): string {
  const settings: [string, number, number][] = [
    ["SOAK_DURATION_S", options.durationS, 300],
    ["SOAK_WARMUP_S", options.warmupS, 180],
    ["SOAK_CHECK_RATE", options.checkRate, 2_000],
    ["SOAK_KEYS", options.keys, 1_000],
    ["SOAK_CHANGE_RATE", options.changeRate, 4],
    ["SOAK_ALS_RATE", options.alsRate, 10_000],
    ["SOAK_ALS_STREAMS", options.alsStreams, 4],
  ];
  const env = settings.filter(([, value, fallback]) => value !== fallback).map(([n, v]) => `${n}=${v} `);
  return `${env.join("")}pnpm soak`;
}
