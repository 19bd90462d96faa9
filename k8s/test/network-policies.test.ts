import { describe, expect, test } from "vitest";
import { all, configMap, manifests, matches } from "./lookup.js";

/**
 * Who may reach which port, read from the NetworkPolicies: only Envoy reaches the data-plane ports
 * (9001 ext_authz, 9002 access log) and the backend, no shipped pod the forward-auth endpoint (9003), only the services (and the migration) reach
 * Postgres and Redis. A port no rule lists would be silently closed, so every declared port is in one.
 */

const policies = manifests.filter((m) => m.object.kind === "NetworkPolicy").map((m) => m.object);
const workloadNamed = (name: string) => {
  const found = all.filter((w) => w.object.metadata.name === name);
  if (found.length !== 1) throw new Error(`no single workload ${name}`);
  return found[0] as (typeof all)[number];
};
const portsOf = (w: (typeof all)[number]): number[] =>
  w.pod.containers.flatMap((c: any) => (c.ports ?? []).map((p: any) => p.containerPort));

/** For one workload: each declared port → "anyone", or the sorted names of the workloads allowed in. */
function reachability(name: string): Record<number, "anyone" | string[]> {
  const target = workloadNamed(name);
  const applying = policies.filter((p) => matches(p.spec.podSelector.matchLabels, target.podLabels));
  expect(applying, `${name} has a NetworkPolicy`).toHaveLength(1);
  const policy = applying[0] as (typeof policies)[number];
  expect(policy.spec.policyTypes).toEqual(["Ingress"]);
  const allowed: Record<number, "anyone" | Set<string>> = {};
  for (const rule of policy.spec.ingress as any[]) {
    for (const source of rule.from ?? []) {
      // Pods of this namespace only: no namespace or address ranges.
      expect(Object.keys(source)).toEqual(["podSelector"]);
    }
    for (const port of rule.ports as any[]) {
      expect(port.protocol).toBe("TCP");
      if (!rule.from) {
        allowed[port.port] = "anyone";
        continue;
      }
      const current = allowed[port.port];
      if (current === "anyone") continue;
      const set = current ?? new Set<string>();
      for (const source of rule.from as any[])
        for (const w of all.filter((x) => matches(source.podSelector.matchLabels, x.podLabels)))
          set.add(w.object.metadata.name);
      allowed[port.port] = set;
    }
  }
  // Every port the pods declare is listed (none closed by accident) and only those.
  expect(Object.keys(allowed).map(Number).sort()).toEqual([...portsOf(target)].sort());
  return Object.fromEntries(
    Object.entries(allowed).map(([port, who]) => [port, who === "anyone" ? who : [...who].sort()]),
  );
}

describe("NetworkPolicies", () => {
  test("each selects the pods of exactly one workload", () => {
    expect(policies.length).toBeGreaterThanOrEqual(5);
    for (const policy of policies) {
      const selected = all.filter((w) => matches(policy.spec.podSelector.matchLabels, w.podLabels));
      expect(selected, policy.metadata.name).toHaveLength(1);
      expect(policy.metadata.name.startsWith(selected[0]?.object.metadata.name ?? "?")).toBe(true);
    }
  });

  test("only Envoy reaches ext_authz (9001), only labelled HTTP gateways forward-auth (9003); the management API and metrics (8080) stay open", () => {
    // No shipped workload is an HTTP gateway: forward-auth is closed until one is given the label.
    expect(reachability("api-key-service")).toEqual({ 9001: ["envoy"], 9003: [], 8080: "anyone" });
    const policy = policies.find((p) => p.metadata.name === "api-key-service-grpc-from-envoy-only");
    const rules = (policy?.spec.ingress ?? []) as any[];
    const rule = rules.find((r) => r.ports.some((p: any) => p.port === 9003));
    expect(rule.from).toEqual([
      { podSelector: { matchLabels: { "api-key-gateway/forward-auth": "allowed" } } },
    ]);
  });

  test("only Envoy reaches the access log (9002); health, metrics and Stripe webhooks (9091) stay open", () => {
    expect(reachability("billing-sidecar")).toEqual({ 9002: ["envoy"], 9091: "anyone" });
  });

  test("only Envoy reaches the backend", () => {
    expect(reachability("backend-service")).toEqual({ 3000: ["envoy"] });
  });

  test("only the workloads given DATABASE_URL reach Postgres", () => {
    const readers = all
      .filter((w) =>
        w.pod.containers.some((c: any) => (c.env ?? []).some((e: any) => e.name === "DATABASE_URL")),
      )
      .map((w) => w.object.metadata.name)
      .sort();
    expect(readers).toEqual(["api-key-service", "api-key-service-migrate", "billing-sidecar"]);
    expect(reachability("postgres")).toEqual({ 5432: readers });
  });

  test("only the two services reach Redis, every workload configured with REDIS_URL among them", () => {
    const allowed = reachability("redis")[6379];
    expect(allowed).toEqual(["api-key-service", "billing-sidecar"]);
    for (const name of ["api-key-service", "billing-sidecar"]) {
      const data = configMap(`${name}-config`);
      if (data.REDIS_URL !== undefined) expect(allowed).toContain(name);
    }
  });

  test("Envoy itself has none: its listeners face the network", () => {
    expect(
      policies.some((p) => matches(p.spec.podSelector.matchLabels, workloadNamed("envoy").podLabels)),
    ).toBe(false);
  });
});
