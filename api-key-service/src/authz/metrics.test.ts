import { Histogram, Registry } from "prom-client";
import { describe, expect, test } from "vitest";
import { OutcomeHistogram } from "./metrics.js";

const BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25];

describe("OutcomeHistogram", () => {
  test("renders the lines of prom-client's Histogram given the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const histogram = new OutcomeHistogram("check_seconds", "Time to decide", BUCKETS, ours);
    const reference = new Histogram({
      name: "check_seconds",
      help: "Time to decide",
      labelNames: ["outcome"],
      buckets: BUCKETS,
      registers: [theirs],
    });
    const allowed = histogram.series("allowed");
    // Values on, between, below and above the bounds.
    const values = [0, 0.0001, 0.00010001, 0.0003, 0.001, 0.0049, 0.25, 0.2500001, 3, 1e-9, 0.07];
    for (const [i, seconds] of values.entries()) {
      const outcome = i % 3 === 0 ? "denied" : "allowed";
      if (outcome === "allowed") allowed.observe(seconds);
      else histogram.observe(outcome, seconds);
      reference.observe({ outcome }, seconds);
    }
    // The same lines; series in the order each registry first saw them.
    const lines = (text: string) => text.split("\n").sort();
    expect(lines(await ours.metrics())).toEqual(lines(await theirs.metrics()));
  });

  test("an outcome appears once counted, and reset forgets every count", async () => {
    const registry = new Registry();
    const histogram = new OutcomeHistogram("check_seconds", "Time to decide", BUCKETS, registry);
    expect(await registry.metrics()).not.toContain("check_seconds_count");
    histogram.observe("denied", 0.002);
    expect(await registry.metrics()).toContain('check_seconds_count{outcome="denied"} 1');
    expect(await registry.metrics()).toContain('check_seconds_bucket{le="0.0025",outcome="denied"} 1');
    expect(await registry.metrics()).toContain('check_seconds_bucket{le="0.001",outcome="denied"} 0');
    registry.resetMetrics();
    expect(await registry.metrics()).not.toContain("check_seconds_count");
  });
});
