import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";

export const K8S_DIR = fileURLToPath(new URL("..", import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const NAMESPACE = "api-key-gateway";

/** A parsed Kubernetes object. Loosely typed on purpose: the tests read whatever the YAML holds. */
export type K8sObject = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: any;
};

export interface Manifest {
  file: string;
  /** Position of the document in its file, from 0. */
  index: number;
  object: K8sObject;
}

/** Every *.yaml under k8s/ (not node_modules), numbered ones first in apply order, then the rest. */
export function manifestFiles(): string[] {
  return readdirSync(K8S_DIR)
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort();
}

/** The numbered files deploy.sh applies, in order. */
export const appliedFiles = () => manifestFiles().filter((f) => /^\d\d-/.test(f));

/** Parses every document of every manifest file; throws on YAML errors and empty documents. */
export function loadManifests(files = manifestFiles()): Manifest[] {
  const out: Manifest[] = [];
  for (const file of files) {
    const docs = parseAllDocuments(readFileSync(`${K8S_DIR}/${file}`, "utf8"));
    if (!Array.isArray(docs)) throw new Error(`${file}: not YAML documents`);
    docs.forEach((doc, index) => {
      if (doc.errors.length > 0) throw new Error(`${file} #${index}: ${doc.errors[0]?.message}`);
      const object = doc.toJS();
      if (object === null || typeof object !== "object") throw new Error(`${file} #${index}: empty document`);
      out.push({ file, index, object });
    });
  }
  return out;
}

export const describeManifest = (m: Manifest) =>
  `${m.file} #${m.index} ${m.object.kind}/${m.object.metadata?.name}`;

export function find(manifests: Manifest[], kind: string, name: string): K8sObject {
  const found = manifests.find((m) => m.object.kind === kind && m.object.metadata.name === name);
  if (!found) throw new Error(`no ${kind} named ${name} in k8s/`);
  return found.object;
}

export const WORKLOAD_KINDS = ["Deployment", "StatefulSet", "Job", "DaemonSet"];

/** Workloads with their pod spec: every container the cluster will run. */
export function workloads(manifests: Manifest[]) {
  return manifests
    .filter((m) => WORKLOAD_KINDS.includes(m.object.kind))
    .map((m) => ({
      ...m,
      pod: m.object.spec.template.spec,
      podLabels: m.object.spec.template.metadata.labels,
    }));
}

export function containersOf(pod: any): any[] {
  return [...(pod.initContainers ?? []), ...(pod.containers ?? [])];
}
