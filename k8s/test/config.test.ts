import { existsSync, readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { loadConfig as apiKeyServiceConfig } from "../../api-key-service/src/config.js";
import { loadConfig as backendConfig } from "../../backend-service/src/config.js";
import { loadConfig as billingSidecarConfig } from "../../billing-sidecar/src/config.js";
import {
  all,
  configMap,
  containerPort,
  deployment,
  mainContainer,
  manifests,
  matches,
  SECRETS,
  service,
  servicePort,
} from "./lookup.js";
import { find, K8S_DIR, type K8sObject, REPO_ROOT } from "./manifests.js";

const secretExample = find(manifests, "Secret", "gateway-secrets");

describe("configuration", () => {
  // Each service's own loader: a value it would refuse at start fails here, and a key it does not
  // read (a misspelt variable, silently ignored at run time) is reported.
  const cases = [
    [
      "api-key-service",
      "api-key-service-config",
      (env: Record<string, string>) => apiKeyServiceConfig({ ...SECRETS, ...env }),
    ],
    [
      "billing-sidecar",
      "billing-sidecar-config",
      (env: Record<string, string>) => billingSidecarConfig({ ...SECRETS, ...env }),
    ],
    ["backend-service", "backend-service-config", (env: Record<string, string>) => backendConfig(env)],
  ] as const;

  test.each(cases)("%s accepts every value of its ConfigMap, and reads every key", (name, mapName, load) => {
    const data = configMap(mapName);
    const config = load(data) as Record<string, unknown>;
    for (const key of Object.keys(data)) expect(Object.keys(config), `${mapName}: ${key}`).toContain(key);
    const w = deployment(name);
    expect(mainContainer(w).envFrom).toEqual([{ configMapRef: { name: mapName } }]);
    // The ports the ConfigMap sets are the ones the pod declares.
    for (const [key, port] of [
      ["HTTP_PORT", "http"],
      ["GRPC_PORT", "grpc"],
      ["AUTH_HTTP_PORT", "forward-auth"],
      ["ALS_PORT", "grpc"],
      ["PORT", "http"],
    ] as const) {
      if (data[key] !== undefined)
        expect(Number(data[key]), `${mapName} ${key}`).toBe(containerPort(w, port));
    }
  });

  test("every Secret key a pod reads is in the Secret template, and the URLs name the right Services", () => {
    const keys = Object.keys(secretExample.stringData);
    for (const w of all) {
      for (const c of w.pod.containers) {
        for (const e of c.env ?? []) {
          const ref = e.valueFrom?.secretKeyRef;
          if (!ref) continue;
          expect(ref.name).toBe("gateway-secrets");
          expect(keys, `${w.object.metadata.name} ${e.name}`).toContain(ref.key);
        }
      }
    }
    const postgres = mainContainer(find(manifests, "StatefulSet", "postgres"));
    const env = Object.fromEntries(postgres.env.map((e: any) => [e.name, e.value]));
    const url = new URL(secretExample.stringData.DATABASE_URL);
    expect([url.username, url.pathname.slice(1), url.hostname, Number(url.port)]).toEqual([
      env.POSTGRES_USER,
      env.POSTGRES_DB,
      "postgres",
      servicePort(service("postgres"), "postgres"),
    ]);
    const redis = new URL(configMap("api-key-service-config").REDIS_URL ?? "");
    expect([redis.hostname, Number(redis.port)]).toEqual(["redis", servicePort(service("redis"), "redis")]);
  });

  test("only the optional Stripe key and webhook secret may be missing from the Secret", () => {
    const optional = ["STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"];
    for (const w of all)
      for (const c of w.pod.containers)
        for (const e of c.env ?? [])
          if (e.valueFrom?.secretKeyRef)
            expect(e.valueFrom.secretKeyRef.optional ?? false).toBe(optional.includes(e.name));
  });

  test("the migration Job migrates, so the replicas do not", () => {
    expect(configMap("api-key-service-config").MIGRATE_ON_START).toBe("false");
    const job = find(manifests, "Job", "api-key-service-migrate");
    const databaseUrl = (w: K8sObject) => mainContainer(w).env.find((e: any) => e.name === "DATABASE_URL");
    // The same database the service uses.
    expect(databaseUrl(job)).toEqual(databaseUrl(deployment("api-key-service")));
    expect(databaseUrl(job).valueFrom.secretKeyRef).toEqual({ name: "gateway-secrets", key: "DATABASE_URL" });
  });

  test("Envoy starts through envoy/start.sh on envoy/envoy.yaml, both from the ConfigMap deploy.sh creates", () => {
    const envoy = deployment("envoy");
    const volume = envoy.spec.template.spec.volumes.find((v: any) => v.configMap);
    expect(volume.configMap.name).toBe("envoy-config");
    const mount = mainContainer(envoy).volumeMounts.find((m: any) => m.name === volume.name);
    expect(mainContainer(envoy).command).toEqual(["bash", `${mount.mountPath}/start.sh`]);
    // start.sh's default template is the mounted envoy.yaml; Envoy's own arguments are passed on.
    const script = readFileSync(`${REPO_ROOT}envoy/start.sh`, "utf8");
    expect(script).toContain(`TEMPLATE=\${ENVOY_TEMPLATE:-${mount.mountPath}/envoy.yaml}`);
    expect(mainContainer(envoy).args).not.toContain("-c");
    const deploy = readFileSync(`${K8S_DIR}deploy.sh`, "utf8");
    expect(deploy).toContain(
      'create configmap envoy-config --from-file=envoy.yaml="$ROOT/envoy/envoy.yaml" --from-file=start.sh="$ROOT/envoy/start.sh"',
    );
  });

  test("Envoy gets INTERNAL_TOKEN from the Secret the services read it from, and its certificate from gateway-tls", () => {
    const tokenOf = (name: string) =>
      mainContainer(deployment(name)).env.find((e: any) => e.name === "INTERNAL_TOKEN")?.valueFrom;
    for (const name of ["envoy", "api-key-service", "billing-sidecar"])
      expect(tokenOf(name), name).toEqual({
        secretKeyRef: { name: "gateway-secrets", key: "INTERNAL_TOKEN" },
      });
    const envoy = deployment("envoy");
    const volume = envoy.spec.template.spec.volumes.find((v: any) => v.secret);
    expect(volume.secret.secretName).toBe("gateway-tls");
    const mount = mainContainer(envoy).volumeMounts.find((m: any) => m.name === volume.name);
    const script = readFileSync(`${REPO_ROOT}envoy/start.sh`, "utf8");
    expect(script).toContain(`TLS_SOURCE=\${ENVOY_TLS_SOURCE:-${mount.mountPath}}`);
    // Readable by Envoy's group only.
    expect(volume.secret.defaultMode).toBe(0o440);
    expect(envoy.spec.template.spec.securityContext.fsGroup).toBe(
      envoy.spec.template.spec.securityContext.runAsGroup,
    );
    const tls = find(manifests, "Secret", "gateway-tls");
    expect(tls.type).toBe("kubernetes.io/tls");
    expect(Object.keys(tls.stringData).sort()).toEqual(["tls.crt", "tls.key"]);
  });

  // envoy/envoy.yaml is written beside these manifests; until it exists there is nothing to compare.
  test.skipIf(!existsSync(`${REPO_ROOT}envoy/envoy.yaml`))(
    "envoy/envoy.yaml reaches the Services by their names and ports",
    () => {
      const found: { address: string; port: number }[] = [];
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node && typeof node === "object") {
          const o = node as Record<string, unknown>;
          if (typeof o.address === "string" && typeof o.port_value === "number")
            found.push({ address: o.address, port: o.port_value });
          Object.values(o).forEach(walk);
        }
      };
      walk(parse(readFileSync(`${REPO_ROOT}envoy/envoy.yaml`, "utf8")));
      const expected: Record<string, number> = {
        "api-key-service": servicePort(service("api-key-service"), "grpc"),
        "billing-sidecar": servicePort(service("billing-sidecar"), "grpc"),
        "backend-service": servicePort(service("backend-service"), "http"),
      };
      for (const [address, port] of Object.entries(expected))
        expect(
          found.filter((f) => f.address === address),
          address,
        ).toEqual([{ address, port }]);
      expect(found.map((f) => f.port)).toContain(containerPort(deployment("envoy"), "http"));
    },
  );
});

describe("scaling and disruption", () => {
  const hpa = find(manifests, "HorizontalPodAutoscaler", "api-key-service");
  const pdb = find(manifests, "PodDisruptionBudget", "api-key-service");
  const target = deployment("api-key-service");

  test("the autoscaler targets the api-key-service Deployment on CPU, and owns its replica count", () => {
    expect(hpa.apiVersion).toBe("autoscaling/v2");
    expect(hpa.spec.scaleTargetRef).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "api-key-service",
    });
    expect(hpa.spec.metrics).toEqual([
      {
        type: "Resource",
        resource: { name: "cpu", target: { type: "Utilization", averageUtilization: expect.any(Number) } },
      },
    ]);
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    expect(hpa.spec.maxReplicas).toBeGreaterThan(hpa.spec.minReplicas);
    // Utilisation is measured against the request; without one the autoscaler cannot act.
    expect(mainContainer(target).resources.requests.cpu).toBeDefined();
    // A fixed count would be reapplied over the autoscaler's on every deploy.
    expect(target.spec.replicas).toBeUndefined();
  });

  test("the disruption budget covers the api-key-service pods and leaves room to drain a node", () => {
    expect(matches(pdb.spec.selector.matchLabels, target.spec.template.metadata.labels)).toBe(true);
    const others = all.filter((w) => w.object.metadata.name !== "api-key-service");
    for (const w of others)
      expect(matches(pdb.spec.selector.matchLabels, w.podLabels), w.object.metadata.name).toBe(false);
    expect(pdb.spec.minAvailable).toBeGreaterThanOrEqual(1);
    expect(pdb.spec.minAvailable).toBeLessThan(hpa.spec.minReplicas);
  });
});
