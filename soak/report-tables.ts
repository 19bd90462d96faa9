import { failureCount } from "./check-windows.js";
import { type CheckWindow, MAX_DENY_MS, MAX_GROWTH, type MemorySummary, type SoakReport } from "./results.js";

export const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ms = (us: number) => (us / 1000).toFixed(2);
const mib = (kib: number) => (kib / 1024).toFixed(1);
const pct = (x: number) => `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)} %`;
const gcs = (n: number | undefined) => (n === undefined ? "–" : int(n));
const verdict = (pass: boolean) => (pass ? "**pass**" : "**FAIL**");

export function targetRows(report: SoakReport): { rows: string[]; allPass: boolean } {
  const { errors, memory, churn } = report;
  const targets: [string, string, string, boolean][] = [
    [
      "errors of any kind, from the end of the warm-up",
      "0",
      `${int(errors.total)} (and ${int(errors.warmupTotal)} during the warm-up)`,
      errors.total === 0,
    ],
    ...(["service", "sidecar"] as const).map((which): [string, string, string, boolean] => {
      const m = memory[which];
      const name = which === "service" ? "api-key-service" : "billing-sidecar";
      return [
        `${name} RSS growth, start → end`,
        `< ${MAX_GROWTH * 100} %`,
        `${pct(m.growth)} (${mib(m.startKiB)} → ${mib(m.endKiB)} MiB)` +
          (m.majorGcs.warmup === 0 ? "; measured from before its first full collection" : ""),
        m.startKiB > 0 && m.growth < MAX_GROWTH,
      ];
    }),
    [
      "revoked or rotated-out key denied (included in the errors)",
      `≤ ${MAX_DENY_MS} ms`,
      churn.denials > 0
        ? `at most ${int(churn.maxDenyMs)} ms over ${int(churn.denials)} changes`
        : "not measured",
      churn.denials > 0 && churn.maxDenyMs <= MAX_DENY_MS,
    ],
  ];
  return {
    rows: targets.map(([t, goal, measured, pass]) => `| ${t} | ${goal} | ${measured} | ${verdict(pass)} |`),
    allPass: targets.every(([, , , pass]) => pass),
  };
}

/** The per-window table: latency from the generators, plus what else happened in the same span. */
export function windowRows(report: SoakReport): string[] {
  const rows = [
    "| window | checks | checks/s | p50 ms | p99 ms | p99.9 ms | max ms | p99 from schedule ms | check failures | key changes | service RSS MiB mean/max | sidecar RSS MiB mean/max | ingest lag max s |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
  ];
  for (const w of report.windows) rows.push(windowRow(report, w));
  return rows;
}

function windowRow(report: SoakReport, w: CheckWindow): string {
  const from = w.startAtMs;
  const to = from + w.plannedS * 1000;
  const inSpan = <T extends { at: number }>(list: readonly T[]) =>
    list.filter((x) => x.at >= from && x.at <= to);
  const samples = inSpan(report.samples);
  const lags = inSpan(report.ingestLags);
  const changes = report.churn.opTimes.filter((t) => t >= from && t < to).length;
  const rss = (which: "service" | "sidecar") => {
    const values = samples.flatMap((s) => (s[which] ? [s[which].rssKiB / 1024] : []));
    if (values.length === 0) return "–";
    return `${(values.reduce((a, b) => a + b, 0) / values.length).toFixed(0)}/${Math.max(...values).toFixed(0)}`;
  };
  const lag = lags.length > 0 ? Math.max(...lags.map((l) => l.lagS)).toFixed(1) : "–";
  const tail = `${int(changes)} | ${rss("service")} | ${rss("sidecar")} | ${lag} |`;
  const r = w.result;
  if (!r) return `| ${w.label} | – | – | – | – | – | – | – | no result: ${w.error ?? "?"} | ${tail}`;
  const l = r.latency;
  const failures = failureCount(r.failures) + failureCount(r.outsideWindowFailures);
  const fromSchedule = r.latencyFromSchedule ? ms(r.latencyFromSchedule.p99Us) : "–";
  return (
    `| ${w.label} | ${int(r.checks)} | ${int(r.checksPerS)} | ${ms(l.p50Us)} | ${ms(l.p99Us)} | ${ms(l.p999Us)} | ` +
    `${ms(l.maxUs)} | ${fromSchedule} | ${int(failures)} | ${tail}`
  );
}

export function memoryRow(name: string, m: MemorySummary, runS: number): string {
  return (
    `| ${name} | ${mib(m.idleKiB)} | ${mib(m.startKiB)} | ${mib(m.endKiB)} | ${pct(m.growth)} | ${mib(m.peakKiB)} | ` +
    `${mib(m.hwmKiB)} | ${mib(m.heapStartKiB)} → ${mib(m.heapEndKiB)} | ${gcs(m.majorGcs.warmup)} / ${gcs(m.majorGcs.measured)} | ` +
    `${m.cpuS.toFixed(1)} (${(m.cpuS / runS).toFixed(2)} cores) |`
  );
}

export function errorRows(report: SoakReport): string[] {
  const { errors } = report;
  if (errors.counts.size === 0) return ["No errors of any kind."];
  const rows = ["| kind | warm-up | after the warm-up | first examples |", "| --- | ---: | ---: | --- |"];
  const order = [...errors.counts].sort((a, b) => b[1].measured - a[1].measured || b[1].warmup - a[1].warmup);
  for (const [kind, count] of order) {
    const { warmup, measured } = errors.examples.get(kind) ?? { warmup: [], measured: [] };
    const examples = [...measured.map((e) => `after: ${e}`), ...warmup.map((e) => `warm-up: ${e}`)]
      .map((e) => e.replace(/\|/g, "\\|").replace(/\s+/g, " ").slice(0, 200))
      .join("; ");
    rows.push(`| ${kind} | ${int(count.warmup)} | ${int(count.measured)} | ${examples.slice(0, 400)} |`);
  }
  return rows;
}
