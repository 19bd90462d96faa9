/** Every sample of a process's Prometheus text at `http://127.0.0.1:<port>/metrics`, keyed by series (`name{labels}`). */
export async function scrapeMetrics(httpPort: number): Promise<Map<string, number>> {
  const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5_000) });
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) samples.set(line.slice(0, space), value);
  }
  return samples;
}

/** How much each series of `family` grew between two scrapes, by label set. */
export function counterDelta(
  before: Map<string, number>,
  after: Map<string, number>,
  family: string,
): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [series, value] of after) {
    if (series !== family && !series.startsWith(`${family}{`)) continue;
    const d = value - (before.get(series) ?? 0);
    if (d !== 0) delta.set(series.slice(family.length) || "total", d);
  }
  return delta;
}

/** counterDelta summed by the value of one label. */
export function counterDeltaByLabel(
  before: Map<string, number>,
  after: Map<string, number>,
  family: string,
  label: string,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [series, n] of counterDelta(before, after, family)) {
    const value = new RegExp(`${label}="([^"]*)"`).exec(series)?.[1] ?? series;
    out[value] = (out[value] ?? 0) + n;
  }
  return out;
}

export function sum(values: Map<string, number>): number {
  let total = 0;
  for (const value of values.values()) total += value;
  return total;
}
