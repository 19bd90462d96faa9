import { describe, expect, it } from "vitest";
import { type Failures, noFailures } from "./generator-protocol.js";
import { fellBehind, isValid, type RunRecord, type RunSpec } from "./results.js";

function run(mode: RunSpec["mode"], failures: Partial<Failures>, checks = 10_000): RunRecord {
  return {
    spec: {
      target: "service",
      generator: "bench",
      keys: "spread",
      mode,
      rate: mode === "paced" ? 20_000 : 0,
    },
    generator: { checks, failures: { ...noFailures(), ...failures } },
  } as unknown as RunRecord;
}

describe("what a run's failures make of it", () => {
  it("a paced run whose only failures are skipped sends fell behind: a measured outcome, not a valid figure", () => {
    const behind = run("paced", { skipped: 1_913 });
    expect(fellBehind(behind)).toBe(true);
    expect(isValid(behind)).toBe(false);
  });

  it("any other failure beside the skipped sends, a closed loop, or no answer at all is not falling behind", () => {
    expect(fellBehind(run("paced", { skipped: 10, transport: 1 }))).toBe(false);
    expect(fellBehind(run("paced", { skipped: 10, decodeMismatch: 1 }))).toBe(false);
    expect(fellBehind(run("closed", { skipped: 10 }))).toBe(false);
    expect(fellBehind(run("paced", { skipped: 10 }, 0))).toBe(false);
    expect(fellBehind(run("paced", {}))).toBe(false);
    expect(isValid(run("paced", {}))).toBe(true);
  });
});
