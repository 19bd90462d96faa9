import { counterDelta } from "@gateway/harness";
import type { ErrorLog } from "./results.js";

/**
 * A counter family's growth between two scrapes (from zero when `before` is empty), summed by the
 * values of one or more labels joined with "/".
 */
export function byLabel(
  after: Map<string, number>,
  family: string,
  labels: string | string[],
  before: Map<string, number> = new Map(),
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [series, n] of counterDelta(before, after, family)) {
    const values = [labels].flat().map((label) => new RegExp(`${label}="([^"]*)"`).exec(series)?.[1]);
    const key = values.filter((v) => v !== undefined && v !== "").join("/") || series;
    out[key] = (out[key] ?? 0) + n;
  }
  return out;
}

/**
 * api-key-service's own error counters, over spans between scrapes: Redis or Postgres calls on the
 * Check path that failed or timed out (some fail open, so no Check shows them), and per-key counts
 * it had to drop. `at` is the span's start, which decides its phase.
 */
export function recordServiceCounters(
  errors: ErrorLog,
  spans: { from: Map<string, number>; to: Map<string, number>; at: number }[],
): void {
  for (const { from, to, at } of spans) {
    const dependency = byLabel(to, "authz_dependency_errors_total", ["dependency", "operation"], from);
    for (const [what, n] of Object.entries(dependency)) {
      errors.add("api-key-service: Redis/Postgres errors on the Check path", `${what}: ${n}`, n, at);
    }
    const dropped = byLabel(to, "authz_counts_dropped_total", [], from).total ?? 0;
    errors.add("api-key-service: per-key counts dropped", "authz_counts_dropped_total", dropped, at);
  }
}
