import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readH2loadLog } from "./h2load.js";
import type { TailRun, TailTarget } from "./tail.js";
import { closedRatios, tailVerdicts } from "./tail-report.js";

function run(
  target: TailTarget,
  rate: number,
  p99Ms: number,
  p999Ms: number,
  extra: Partial<TailRun> = {},
): TailRun {
  return {
    target,
    rate,
    checks: 10_000,
    checksPerS: rate || 50_000,
    latency: {
      count: 10_000,
      meanUs: 500,
      p50Us: 500,
      p99Us: p99Ms * 1000,
      p999Us: p999Ms * 1000,
      maxUs: 9_000,
    },
    failures: { http: 0, grpc: 0, denied: 0, transport: 0, skipped: 0, decodeMismatch: 0, examples: [] },
    windowS: 10,
    cores: { server: 0.5, generator: 0.1, redis: 0.1, other: 0 },
    ...extra,
  };
}

describe("the tail verdict at each rate", () => {
  it("passes within floor + 1 ms at p99 and floor + 5 ms at p99.9, and fails beyond either", () => {
    const verdicts = tailVerdicts([
      run("service", 1_000, 1.5, 7.0),
      run("floor", 1_000, 0.5, 2.0),
      run("service", 5_000, 2.1, 3.0),
      run("floor", 5_000, 1.0, 1.5),
      run("service", 12_000, 2.0, 8.1),
      run("floor", 12_000, 1.5, 3.0),
    ]);
    expect(verdicts.map((v) => v.pass)).toEqual([true, false, false]);
    expect(verdicts[1]?.p99Over).toBeCloseTo(1_100);
    expect(verdicts[2]?.p999Over).toBeCloseTo(5_100);
  });

  it("fails a service that fell behind the rate, however low its latency", () => {
    const [verdict] = tailVerdicts([
      run("service", 1_000, 0.6, 1.0, { checksPerS: 950 }),
      run("floor", 1_000, 0.5, 1.0),
    ]);
    expect(verdict?.pass).toBe(false);
  });

  it("gives no figure when a run had failures or is missing", () => {
    const failed = run("service", 1_000, 0.6, 1.0);
    failed.failures.http = 3;
    const verdicts = tailVerdicts([failed, run("floor", 1_000, 0.5, 1.0), run("floor", 5_000, 0.5, 1.0)]);
    expect(verdicts.map((v) => v.pass)).toEqual([undefined, undefined, undefined]);
  });
});

describe("closed-loop ratios", () => {
  it("divide the service's rate by each other target's", () => {
    const ratios = closedRatios([
      run("service", 0, 1, 1, { checksPerS: 40_000 }),
      run("floor", 0, 1, 1, { checksPerS: 100_000 }),
      run("h2 no-op", 0, 1, 1, { checksPerS: 80_000 }),
      run("h2 no-op + Redis", 0, 1, 1, { checksPerS: 50_000 }),
    ]);
    expect(ratios).toEqual([
      { over: "floor", ratio: 0.4 },
      { over: "h2 no-op + Redis", ratio: 0.8 },
      { over: "h2 no-op", ratio: 0.5 },
      { over: "grpc-js no-op", ratio: undefined },
    ]);
  });
});

describe("h2load's per-request log", () => {
  it("yields the latency of answered requests, counts other statuses and skips those still in flight", () => {
    const dir = mkdtempSync(join(tmpdir(), "h2load-log-"));
    try {
      const file = join(dir, "log");
      const lines = ["1\t200\t1000", "2\t200\t3000", "3\t503\t200", "4\t0\t0", ""];
      writeFileSync(file, lines.join("\n"));
      const { ok, latency, httpFailures } = readH2loadLog(file);
      expect(ok).toBe(2);
      expect(latency.summary().maxUs).toBe(3000);
      expect(httpFailures).toEqual({ count: 1, examples: ["http: HTTP status 503"] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
