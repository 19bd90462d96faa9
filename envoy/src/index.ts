import { parseDocument } from "yaml";
import { BOOTSTRAP_TYPE, type EnvoyProtos, loadEnvoyProtos } from "./proto-root.js";
import { type Issue, type ValidateOptions, validateConfig } from "./validate-config.js";

export { BOOTSTRAP_TYPE, type EnvoyProtos, loadEnvoyProtos } from "./proto-root.js";
export { type Issue, type ValidateOptions, validateConfig } from "./validate-config.js";

let protos: EnvoyProtos | undefined;

/** Envoy's protos take a few seconds to parse: once per process is enough. */
export function envoyProtos(): EnvoyProtos {
  protos ??= loadEnvoyProtos();
  return protos;
}

/** Parses YAML as Envoy's loader would: one document, no duplicate keys. */
export function parseEnvoyYaml(text: string): { config: unknown; issues: Issue[] } {
  const doc = parseDocument(text, { uniqueKeys: true });
  const issues = doc.errors.map((e) => ({
    path: `(yaml line ${e.linePos?.[0]?.line ?? "?"})`,
    message: e.message,
  }));
  return { config: doc.toJS({ maxAliasCount: 100 }), issues };
}

/** Every problem Envoy's bootstrap schema finds in a YAML config; empty when it is valid. */
export function validateEnvoyYaml(text: string, options: ValidateOptions = {}): Issue[] {
  const { config, issues } = parseEnvoyYaml(text);
  if (issues.length > 0) return issues;
  return validateConfig(envoyProtos(), config, BOOTSTRAP_TYPE, options);
}

export function formatIssues(issues: Issue[]): string {
  return issues.map((i) => `${i.path}: ${i.message}`).join("\n");
}
