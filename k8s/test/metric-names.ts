import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Where the services' metrics are declared: each service's and each shared package's src/. */
export function metricSourceDirs(root: string): string[] {
  const packages = readdirSync(join(root, "packages"), { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => join(root, "packages", entry.name, "src"));
  return [
    ...["api-key-service", "billing-sidecar", "backend-service"].map((s) => join(root, s, "src")),
    ...packages,
  ];
}

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === "node_modules" ? [] : sourceFiles(path);
    return /\.ts$/.test(entry.name) && !/\.test\.ts$/.test(entry.name) ? [path] : [];
  });
}

const NAME = "[a-zA-Z_:][a-zA-Z0-9_:]*";
/** `name: "x"` in a prom-client options object. */
const NAME_PROPERTY = new RegExp(`\\bname:\\s*["'\`](${NAME})["'\`]`, "g");
/** A name handed to a helper that builds the metric: `gauge("x", …)`. Must hold an underscore. */
const NAME_ARGUMENT = /[\w$]\(\s*["'`]([a-zA-Z:][a-zA-Z0-9:]*_[a-zA-Z0-9_:]*)["'`]/g;
/** Series prom-client derives from a histogram's or a summary's name. */
const DERIVED = ["_bucket", "_sum", "_count"];
/** Series Prometheus itself writes for every target. */
export const PROMETHEUS_SERIES = ["up"];

/**
 * Metric names the services declare, read from the source of every file that imports prom-client, so
 * no service has to start. Generous on purpose (a string literal shaped like a name counts): a rule
 * naming a metric no file mentions is what this catches.
 */
export function definedMetricNames(root: string): Set<string> {
  const names = new Set(PROMETHEUS_SERIES);
  for (const file of metricSourceDirs(root).flatMap(sourceFiles)) {
    const source = readFileSync(file, "utf8");
    if (!/from\s+["']prom-client["']/.test(source)) continue;
    for (const pattern of [NAME_PROPERTY, NAME_ARGUMENT])
      for (const [, name] of source.matchAll(pattern)) {
        if (!name) continue;
        names.add(name);
        for (const suffix of DERIVED) names.add(name + suffix);
      }
  }
  return names;
}

const KEYWORDS = new Set([
  "and",
  "or",
  "unless",
  "offset",
  "bool",
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "atan2",
  "inf",
  "nan",
]);

/** The metric names a PromQL expression selects: identifiers that are not functions or keywords. */
export function metricNamesIn(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, " ");
  const names = new Set<string>();
  for (const [, name] of bare.matchAll(/(?<![\w:.])([a-zA-Z_:][\w:]*)(?![\w:])(?!\s*\()/g))
    if (name && !KEYWORDS.has(name.toLowerCase())) names.add(name);
  return [...names].sort();
}
