import { describe, expect, test } from "vitest";
import { containersOf, loadManifests, workloads } from "./manifests.js";

const manifests = loadManifests();
const all = workloads(manifests);
const containers = all.flatMap((w) =>
  containersOf(w.pod).map((c) => ({ label: `${w.object.kind}/${w.object.metadata.name} ${c.name}`, w, c })),
);
const longRunning = containers.filter(({ w }) => w.object.kind !== "Job");

/** The gateway's own images, built by deploy.sh and loaded into the cluster, never pulled. */
const OWN_IMAGES: Record<string, string> = {
  "api-key-service": "api-key-gateway/api-key-service:local",
  "billing-sidecar": "api-key-gateway/billing-sidecar:local",
  "backend-service": "api-key-gateway/backend-service:local",
};

/** Volume types the restricted Pod Security Standard allows. */
const RESTRICTED_VOLUMES = [
  "configMap",
  "emptyDir",
  "secret",
  "persistentVolumeClaim",
  "projected",
  "downwardAPI",
  "ephemeral",
  "csi",
];

describe("workloads", () => {
  test("the expected ones exist", () => {
    expect(all.map((w) => `${w.object.kind}/${w.object.metadata.name}`).sort()).toEqual([
      "Deployment/api-key-service",
      "Deployment/backend-service",
      "Deployment/billing-sidecar",
      "Deployment/envoy",
      "Deployment/redis",
      "Job/api-key-service-migrate",
      "StatefulSet/postgres",
    ]);
  });

  test.each(containers.map((c) => [c.label, c.c] as const))(
    "%s has cpu and memory requests and limits",
    (_l, c) => {
      for (const kind of ["requests", "limits"]) {
        expect(c.resources?.[kind]?.cpu, `${kind}.cpu`).toBeDefined();
        expect(c.resources?.[kind]?.memory, `${kind}.memory`).toBeDefined();
      }
    },
  );

  test.each(longRunning.map((c) => [c.label, c.c] as const))(
    "%s has readiness and liveness probes on ports it declares",
    (_l, c) => {
      const declared = new Set<string | number>(
        (c.ports ?? []).flatMap((p: any) => [p.name, p.containerPort]),
      );
      for (const kind of ["readinessProbe", "livenessProbe", "startupProbe"]) {
        const probe = c[kind];
        if (kind !== "startupProbe") expect(probe, kind).toBeDefined();
        if (!probe) continue;
        const port = probe.httpGet?.port ?? probe.tcpSocket?.port ?? probe.grpc?.port;
        if (probe.exec) expect(probe.exec.command.length).toBeGreaterThan(0);
        else expect(declared.has(port), `${kind} port ${port}`).toBe(true);
      }
    },
  );

  test.each(containers.map((c) => [c.label, c] as const))(
    "%s runs as non-root with no privileges and a read-only root filesystem",
    (_l, { w, c }) => {
      const pod = w.pod.securityContext ?? {};
      const own = c.securityContext ?? {};
      expect(own.runAsNonRoot ?? pod.runAsNonRoot).toBe(true);
      // A numeric user: the kubelet cannot verify runAsNonRoot for an image whose USER is a name.
      expect(own.runAsUser ?? pod.runAsUser).toBeGreaterThan(0);
      expect((own.seccompProfile ?? pod.seccompProfile)?.type).toBe("RuntimeDefault");
      expect(own.allowPrivilegeEscalation).toBe(false);
      expect(own.privileged ?? false).toBe(false);
      expect(own.capabilities?.drop).toContain("ALL");
      expect(own.capabilities?.add ?? []).toEqual([]);
      expect(own.readOnlyRootFilesystem).toBe(true);
    },
  );

  test.each(all.map((w) => [`${w.object.kind}/${w.object.metadata.name}`, w.pod] as const))(
    "%s meets the restricted Pod Security Standard the namespace enforces",
    (_l, pod) => {
      for (const field of ["hostNetwork", "hostPID", "hostIPC"])
        expect(pod[field] ?? false, field).toBe(false);
      for (const volume of pod.volumes ?? []) {
        const types = Object.keys(volume).filter((k) => k !== "name");
        expect(
          types.every((t) => RESTRICTED_VOLUMES.includes(t)),
          `${volume.name}: ${types}`,
        ).toBe(true);
      }
      for (const c of containersOf(pod))
        for (const p of c.ports ?? []) expect(p.hostPort, c.name).toBeUndefined();
      // None of them talks to the Kubernetes API.
      expect(pod.automountServiceAccountToken).toBe(false);
      // Service links would add API_KEY_SERVICE_PORT=tcp://… and the like to every container's environment.
      expect(pod.enableServiceLinks).toBe(false);
    },
  );

  test.each(containers.map((c) => [c.label, c.c] as const))("%s has a pinned image", (_l, c) => {
    const ownImage = Object.values(OWN_IMAGES).includes(c.image);
    if (ownImage) {
      expect(c.imagePullPolicy).toBe("IfNotPresent");
    } else {
      // Third-party images carry an exact version, never a moving tag.
      expect(c.image).toMatch(/^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?$/);
    }
  });

  test("each service runs its own image, and the migration Job the api-key-service image", () => {
    for (const [name, image] of Object.entries(OWN_IMAGES)) {
      const w = all.find((x) => x.object.kind === "Deployment" && x.object.metadata.name === name);
      expect(w?.pod.containers.map((c: any) => c.image)).toEqual([image]);
    }
    const job = all.find((w) => w.object.kind === "Job");
    expect(job?.pod.containers[0].image).toBe(OWN_IMAGES["api-key-service"]);
    expect(["Never", "OnFailure"]).toContain(job?.pod.restartPolicy);
  });

  test("Deployments select their own pod template's labels", () => {
    for (const w of all.filter((x) => x.object.kind !== "Job")) {
      for (const [k, v] of Object.entries(w.object.spec.selector.matchLabels)) expect(w.podLabels[k]).toBe(v);
    }
  });
});
