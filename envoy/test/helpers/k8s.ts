import { parseAllDocuments } from "yaml";
import { readRepoFile, repoFiles } from "./repo.js";

export interface Manifest {
  file: string;
  doc: any;
}

const WORKLOADS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"]);

/** Every Kubernetes object in k8s/ (YAML files, several documents each; kustomizations are skipped). */
export function k8sManifests(): Manifest[] {
  return repoFiles("k8s", [".yaml", ".yml"]).flatMap((file) =>
    parseAllDocuments(readRepoFile(file))
      .map((d) => d.toJS() as any)
      .filter((doc) => doc?.kind && doc?.metadata?.name && doc.kind !== "Kustomization")
      .map((doc) => ({ file, doc })),
  );
}

export const servicesNamed = (manifests: Manifest[], name: string) =>
  manifests.filter((m) => m.doc.kind === "Service" && m.doc.metadata.name === name).map((m) => m.doc);

/** The workloads whose pod labels include all of a Service's selector. */
export function workloadsSelectedBy(manifests: Manifest[], service: any): Manifest[] {
  const selector: Record<string, string> = service.spec?.selector ?? {};
  if (Object.keys(selector).length === 0) return [];
  return manifests.filter((m) => {
    if (!WORKLOADS.has(m.doc.kind)) return false;
    const labels: Record<string, string> = m.doc.spec?.template?.metadata?.labels ?? {};
    return Object.entries(selector).every(([k, v]) => labels[k] === v);
  });
}

/** Every container port a workload's pods open, with its name. */
export function podPorts(workload: any): { containerPort: number; name?: string }[] {
  const spec = workload.spec?.template?.spec ?? {};
  return [...(spec.containers ?? []), ...(spec.initContainers ?? [])].flatMap((c: any) => c.ports ?? []);
}
