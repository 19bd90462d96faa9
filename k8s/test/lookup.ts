import { find, type K8sObject, loadManifests, workloads } from "./manifests.js";

/** The manifests, parsed once per test file, with lookups by kind and name. */
export const manifests = loadManifests();
export const objects = manifests.map((m) => m.object);
export const all = workloads(manifests);
export const deployment = (name: string) => find(manifests, "Deployment", name);
export const service = (name: string) => find(manifests, "Service", name);
export const configMap = (name: string) => find(manifests, "ConfigMap", name).data as Record<string, string>;
export const mainContainer = (w: K8sObject) => w.spec.template.spec.containers[0];
export const containerPort = (w: K8sObject, name: string) =>
  mainContainer(w).ports.find((p: any) => p.name === name)?.containerPort as number | undefined;
export const servicePort = (s: K8sObject, name: string) =>
  s.spec.ports.find((p: any) => p.name === name)?.port;
/** Whether labels carry every label of a selector, as the API server matches them. */
export const matches = (selector: Record<string, string>, labels: Record<string, string> = {}) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

/** Placeholders for the values that come from the Secret. */
export const SECRETS = {
  DATABASE_URL: "postgres://gateway:pw@postgres:5432/gateway",
  REDIS_URL: "redis://redis:6379",
  ADMIN_TOKEN: "x".repeat(32),
};
