import { resolve } from "node:path";
import type { BenchOptions } from "./results.js";

export function integerSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${name} must be an integer from ${min} to ${max} (got "${raw}")`);
  }
  return value;
}

/** The benchmark sends traffic to loopback only, whatever it is pointed at. */
export function loopbackUrl(name: string, fallback: string): string {
  const url = new URL(process.env[name] || fallback);
  if (!["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    throw new Error(
      `${name} must point at 127.0.0.1 (got ${url.hostname}): the benchmark stays on this machine`,
    );
  }
  return url.toString();
}

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

/** Undo steps, run newest first, each at most once: on success, on error and on Ctrl-C alike. */
