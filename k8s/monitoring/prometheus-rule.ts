import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import { Document, isSeq, parseDocument } from "yaml";

export const ALERTS_FILE = fileURLToPath(new URL("alerts.yml", import.meta.url));
export const PROMETHEUS_RULE_FILE = fileURLToPath(new URL("prometheus-rule.yaml", import.meta.url));

const HEADER = ` Generated from alerts.yml (the one definition of the gateway's alerts): edit that, then run
 pnpm exec tsx k8s/monitoring/prometheus-rule.ts
 For the Prometheus Operator; add the labels your Prometheus's ruleSelector asks for.`;

/**
 * The PrometheusRule (monitoring.coreos.com/v1) holding the groups of a Prometheus rule file,
 * comments and block scalars kept, so the two files read alike.
 */
export function renderPrometheusRule(alertsYaml: string): string {
  const source = parseDocument(alertsYaml);
  if (source.errors.length > 0) throw new Error(`alerts.yml: ${source.errors[0]?.message}`);
  const groups = source.get("groups", true);
  if (!isSeq(groups)) throw new Error("alerts.yml: no groups list");
  const rule = new Document({
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: {
      name: "api-key-gateway",
      namespace: "api-key-gateway",
      labels: { "app.kubernetes.io/part-of": "api-key-gateway" },
    },
    spec: { groups },
  });
  rule.commentBefore = HEADER;
  return rule.toString({ lineWidth: 0 });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  writeFileSync(PROMETHEUS_RULE_FILE, renderPrometheusRule(readFileSync(ALERTS_FILE, "utf8")));
  console.log(`wrote ${PROMETHEUS_RULE_FILE}`);
}
