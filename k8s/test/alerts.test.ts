import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { ALERTS_FILE, PROMETHEUS_RULE_FILE, renderPrometheusRule } from "../monitoring/prometheus-rule.js";
import { NAMESPACE, REPO_ROOT } from "./manifests.js";
import { definedMetricNames, metricNamesIn } from "./metric-names.js";

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: AlertRule[] }[];
}
interface UnitTests {
  rule_files: string[];
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

const MONITORING_DIR = dirname(ALERTS_FILE);
const UNIT_TESTS = "alerts.test.yml";
const alertsYaml = readFileSync(ALERTS_FILE, "utf8");
const ruleFile = parse(alertsYaml) as RuleFile;
const alerts = ruleFile.groups.flatMap((g) => g.rules);

const promtool = (...args: string[]) =>
  spawnSync("promtool", args, { cwd: MONITORING_DIR, encoding: "utf8", timeout: 60_000 });
const installed = promtool("--version").status === 0;
const MISSING =
  "promtool is not installed: apt-get install prometheus (Debian's package ships /usr/bin/promtool; .ci/run installs it)";

function expectPromtoolPasses(...args: string[]) {
  expect(installed, MISSING).toBe(true);
  const run = promtool(...args);
  expect(run.status, `promtool ${args.join(" ")}\n${run.stdout}${run.stderr}`).toBe(0);
}

/** GitHub's anchor for a Markdown heading. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");

function anchorsOf(doc: string): Set<string> {
  const text = readFileSync(join(REPO_ROOT, doc), "utf8");
  return new Set([...text.matchAll(/^#{1,6}\s+(.+)$/gm)].map(([, heading]) => slug(heading ?? "")));
}

describe("Prometheus alert rules (k8s/monitoring/alerts.yml)", () => {
  test("promtool is installed", () => {
    expect(installed, MISSING).toBe(true);
  });

  test("promtool check rules accepts the rule file", () => {
    expectPromtoolPasses("check", "rules", "alerts.yml");
  });

  test("promtool test rules: every alert fires on its series and stays silent on healthy ones", () => {
    expectPromtoolPasses("test", "rules", UNIT_TESTS);
  });

  test("every alert has at least one firing and one silent case in the unit tests", () => {
    const unit = parse(readFileSync(join(MONITORING_DIR, UNIT_TESTS), "utf8")) as UnitTests;
    expect(unit.rule_files).toEqual(["alerts.yml"]);
    const cases = unit.tests.flatMap((t) => t.alert_rule_test ?? []);
    const missing = alerts.flatMap(({ alert }) => {
      const mine = cases.filter((c) => c.alertname === alert);
      return [
        ...(mine.some((c) => (c.exp_alerts ?? []).length > 0) ? [] : [`${alert}: no case where it fires`]),
        ...(mine.some((c) => (c.exp_alerts ?? []).length === 0)
          ? []
          : [`${alert}: no case where it is silent`]),
      ];
    });
    expect(missing).toEqual([]);
  });

  test("every alert waits (for), has a severity and tells the operator what to do", () => {
    expect(alerts.length).toBeGreaterThan(0);
    for (const rule of alerts) {
      expect(rule.for, `${rule.alert}: for`).toMatch(/^\d+[smh]$/);
      expect(["critical", "warning"], `${rule.alert}: severity`).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary, `${rule.alert}: summary`).toBeTruthy();
      expect(rule.annotations?.description, `${rule.alert}: description`).toBeTruthy();
      expect(rule.annotations?.runbook, `${rule.alert}: runbook`).toBe(
        `docs/OPERATIONS.md#${rule.alert.toLowerCase()}`,
      );
    }
    expect(new Set(alerts.map((r) => r.alert)).size, "alert names are unique").toBe(alerts.length);
  });

  test("every docs/*.md#section the annotations point to exists", () => {
    const broken: string[] = [];
    for (const rule of alerts)
      for (const text of Object.values(rule.annotations ?? {}))
        for (const [link, doc, anchor] of text.matchAll(/(docs\/[\w.-]+\.md)#([\w-]+)/g)) {
          if (!doc || !anchor) continue;
          if (!existsSync(join(REPO_ROOT, doc)) || !anchorsOf(doc).has(anchor))
            broken.push(`${rule.alert}: ${link}`);
        }
    expect(broken).toEqual([]);
  });

  test("every metric the rules use is defined by a service", () => {
    const defined = definedMetricNames(REPO_ROOT);
    const undefinedNames = alerts.flatMap((rule) =>
      metricNamesIn(rule.expr)
        .filter((name) => !defined.has(name))
        .map((name) => `${name} (${rule.alert})`),
    );
    expect(
      undefinedNames,
      "metrics the alert rules use that no service declares (a prom-client name literal in */src)",
    ).toEqual([]);
  });
});

describe("the PrometheusRule (k8s/monitoring/prometheus-rule.yaml)", () => {
  const committed = readFileSync(PROMETHEUS_RULE_FILE, "utf8");
  const object = parse(committed);

  test("is alerts.yml's groups, as generated (pnpm exec tsx k8s/monitoring/prometheus-rule.ts)", () => {
    expect(object.spec.groups).toEqual(ruleFile.groups);
    expect(committed, "regenerate: pnpm exec tsx k8s/monitoring/prometheus-rule.ts").toBe(
      renderPrometheusRule(alertsYaml),
    );
  });

  test("is a monitoring.coreos.com/v1 PrometheusRule in the gateway's namespace, with rule fields the CRD knows", () => {
    expect(object).toMatchObject({
      apiVersion: "monitoring.coreos.com/v1",
      kind: "PrometheusRule",
      metadata: { name: "api-key-gateway", namespace: NAMESPACE },
    });
    const known = ["alert", "record", "expr", "for", "keep_firing_for", "labels", "annotations"];
    for (const group of object.spec.groups)
      for (const rule of group.rules)
        expect(
          Object.keys(rule).filter((key) => !known.includes(key)),
          rule.alert,
        ).toEqual([]);
  });
});

describe("the metric-name reader", () => {
  test("finds the selected metrics, not functions, keywords, labels or durations", () => {
    expect(
      metricNamesIn(
        'sum by (job, le) (rate(a_total{result="x_y"}[5m])) / ignoring(z) b > 0.01 and on() c offset 1h or absent(up{job="j"})',
      ),
    ).toEqual(["a_total", "b", "c", "up"]);
  });

  test("reads names from prom-client literals and name-taking helpers", () => {
    const defined = definedMetricNames(REPO_ROOT);
    for (const name of [
      "authz_checks_total",
      "authz_check_duration_seconds_bucket",
      "stripe_meter_events_total",
      "usage_reconciliation_gap_requests",
      "up",
    ])
      expect(defined.has(name), name).toBe(true);
  });
});
