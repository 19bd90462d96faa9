import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { loadConfig as apiKeyServiceConfig } from "../../api-key-service/src/config.js";
import { loadConfig as backendConfig } from "../../backend-service/src/config.js";
import { loadConfig as billingSidecarConfig } from "../../billing-sidecar/src/config.js";
import {
  all,
  containerPort,
  deployment,
  mainContainer,
  manifests,
  matches,
  objects,
  SECRETS,
  service,
  servicePort,
} from "./lookup.js";
import { find, K8S_DIR, NAMESPACE } from "./manifests.js";

describe("namespace", () => {
  test("every object lives in the namespace 00-namespace.yaml creates, which enforces restricted pods", () => {
    const ns = find(manifests, "Namespace", NAMESPACE);
    expect(ns.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    for (const o of objects.filter((x) => x.kind !== "Namespace"))
      expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe(NAMESPACE);
  });

  test("the scripts work in the same namespace", () => {
    for (const script of ["deploy.sh", "test.sh", "cleanup.sh"]) {
      expect(readFileSync(`${K8S_DIR}${script}`, "utf8"), script).toContain(`NAMESPACE=${NAMESPACE}\n`);
    }
  });
});

describe("Services", () => {
  test("have the names Envoy's config and the services' URLs use", () => {
    const names = objects.filter((o) => o.kind === "Service").map((o) => o.metadata.name);
    expect(names.sort()).toEqual([
      "api-key-service",
      "backend-service",
      "billing-sidecar",
      "envoy",
      "postgres",
      "redis",
    ]);
  });

  test.each(objects.filter((o) => o.kind === "Service").map((o) => [o.metadata.name, o] as const))(
    "%s selects exactly one workload's pods, on ports those pods declare",
    (_name, svc) => {
      const selected = all.filter((w) => matches(svc.spec.selector, w.podLabels));
      expect(selected.map((w) => `${w.object.kind}/${w.object.metadata.name}`)).toEqual([
        expect.stringMatching(new RegExp(`/${svc.metadata.name}$`)),
      ]);
      const ports = selected[0]?.pod.containers.flatMap((c: any) => c.ports ?? []) ?? [];
      for (const p of svc.spec.ports) {
        const target = p.targetPort ?? p.port;
        const found = ports.find((cp: any) => cp.name === target || cp.containerPort === target);
        expect(found, `${svc.metadata.name} port ${p.name} → ${target}`).toBeDefined();
        // Named targets must lead to the same number the Service advertises: clients use the Service port.
        expect(found?.containerPort).toBe(p.port);
      }
    },
  );

  test("Envoy is reachable from outside over TLS on 8443 through a LoadBalancer, and only so", () => {
    const envoy = service("envoy");
    expect(envoy.spec.type).toBe("LoadBalancer");
    expect(envoy.spec.ports.map((p: any) => p.name)).toEqual(["https"]);
    expect(servicePort(envoy, "https")).toBe(8443);
    expect(containerPort(deployment("envoy"), "https")).toBe(8443);
    // The plain listener is in the pod, for port-forwards, not behind the Service.
    expect(containerPort(deployment("envoy"), "http")).toBe(8000);
  });
});

describe("ports agree with the services' own defaults", () => {
  test("api-key-service: HTTP 8080, gRPC 9001 and forward-auth 9003", () => {
    const defaults = apiKeyServiceConfig(SECRETS);
    const expected = [defaults.HTTP_PORT, defaults.GRPC_PORT, defaults.AUTH_HTTP_PORT];
    const w = deployment("api-key-service");
    const names = ["http", "grpc", "forward-auth"] as const;
    expect(names.map((name) => containerPort(w, name))).toEqual(expected);
    expect(names.map((name) => servicePort(service("api-key-service"), name))).toEqual(expected);
  });

  test("billing-sidecar: access log 9002 and HTTP 9091", () => {
    const defaults = billingSidecarConfig({ DATABASE_URL: SECRETS.DATABASE_URL });
    const w = deployment("billing-sidecar");
    expect([containerPort(w, "grpc"), containerPort(w, "http")]).toEqual([
      defaults.ALS_PORT,
      defaults.HTTP_PORT,
    ]);
    expect([
      servicePort(service("billing-sidecar"), "grpc"),
      servicePort(service("billing-sidecar"), "http"),
    ]).toEqual([defaults.ALS_PORT, defaults.HTTP_PORT]);
  });

  test("backend-service: 3000", () => {
    expect(backendConfig({}).PORT).toBe(3000);
    expect(containerPort(deployment("backend-service"), "http")).toBe(3000);
    expect(servicePort(service("backend-service"), "http")).toBe(3000);
  });

  test("gRPC readiness probes ask the health service for the service Envoy calls", () => {
    expect(mainContainer(deployment("api-key-service")).readinessProbe.grpc).toEqual({
      port: 9001,
      service: "envoy.service.auth.v3.Authorization",
    });
    expect(mainContainer(deployment("billing-sidecar")).readinessProbe.grpc).toEqual({
      port: 9002,
      service: "envoy.service.accesslog.v3.AccessLogService",
    });
  });
});

describe("network", () => {
  test("only Envoy's pods may reach the backend, which trusts the identity headers", () => {
    const policy = find(manifests, "NetworkPolicy", "backend-service-from-envoy-only");
    const selected = all.filter((w) => matches(policy.spec.podSelector.matchLabels, w.podLabels));
    expect(selected.map((w) => w.object.metadata.name)).toEqual(["backend-service"]);
    expect(policy.spec.policyTypes).toEqual(["Ingress"]);
    expect(policy.spec.ingress).toHaveLength(1);
    const [rule] = policy.spec.ingress;
    const allowed = all.filter((w) =>
      rule.from.some((f: any) => matches(f.podSelector.matchLabels, w.podLabels)),
    );
    expect(allowed.map((w) => w.object.metadata.name)).toEqual(["envoy"]);
    expect(rule.from.every((f: any) => f.namespaceSelector === undefined && f.ipBlock === undefined)).toBe(
      true,
    );
    expect(rule.ports).toEqual([
      { protocol: "TCP", port: containerPort(deployment("backend-service"), "http") },
    ]);
  });
});
