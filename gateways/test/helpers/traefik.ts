import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv, type ErrorObject } from "ajv";
import { parseDocument } from "yaml";
import { REPO_ROOT } from "./gateway.js";

export const TRAEFIK_CONFIG = "gateways/traefik/dynamic.yml";

const schema = JSON.parse(
  readFileSync(join(REPO_ROOT, "gateways/traefik/schema/traefik-v3-file-provider.json"), "utf8"),
);
// strict: false, as the schema is SchemaStore's (it uses keywords such as `default` beside $ref).
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

export interface Issue {
  path: string;
  message: string;
}

/** The file as Traefik's loader reads it: one YAML document, no duplicate keys. */
export function parseTraefikYaml(text: string): { config: any; issues: Issue[] } {
  const doc = parseDocument(text, { uniqueKeys: true });
  const issues = doc.errors.map((e) => ({
    path: `(yaml line ${e.linePos?.[0]?.line ?? "?"})`,
    message: e.message,
  }));
  return { config: doc.toJS(), issues };
}

const describeError = (e: ErrorObject): Issue => ({
  path:
    e.keyword === "additionalProperties"
      ? `${e.instancePath}/${e.params.additionalProperty}`
      : e.instancePath,
  message:
    e.keyword === "additionalProperties" ? "is not a field Traefik knows here" : (e.message ?? e.keyword),
});

/** Every place where the config does not follow Traefik's schema for the file provider; empty when valid. */
export function schemaIssues(config: unknown): Issue[] {
  return validate(config) ? [] : (validate.errors ?? []).map(describeError);
}

export function loadTraefikConfig(): any {
  const { config, issues } = parseTraefikYaml(readFileSync(join(REPO_ROOT, TRAEFIK_CONFIG), "utf8"));
  if (issues.length > 0) throw new Error(`${TRAEFIK_CONFIG}: ${JSON.stringify(issues)}`);
  return config;
}

/** A router's middlewares in the order Traefik applies them, chains expanded; throws on an undefined name. */
export function middlewareChain(config: any, names: string[]): { name: string; middleware: any }[] {
  return names.flatMap((name) => {
    const middleware = config.http.middlewares?.[name];
    if (!middleware) throw new Error(`middleware ${name} is not defined`);
    if (middleware.chain) return middlewareChain(config, middleware.chain.middlewares);
    return [{ name, middleware }];
  });
}

/**
 * The request headers a router's middlewares leave set when the request reaches the forwardAuth
 * middleware (`before`) and the service (`after`): "" means removed, undefined untouched.
 */
export function headersAround(
  config: any,
  router: string,
): { before: Record<string, string>; after: Record<string, string> } {
  const before: Record<string, string> = {};
  const after: Record<string, string> = {};
  let checked = false;
  for (const { middleware } of middlewareChain(config, config.http.routers[router].middlewares ?? [])) {
    if (middleware.forwardAuth) {
      checked = true;
      for (const name of middleware.forwardAuth.authResponseHeaders ?? [])
        after[name.toLowerCase()] = "(from the check)";
      continue;
    }
    for (const [name, value] of Object.entries<string>(middleware.headers?.customRequestHeaders ?? {})) {
      (checked ? after : before)[name.toLowerCase()] = value;
      if (!checked) after[name.toLowerCase()] = value;
    }
  }
  return { before, after };
}

/** A PathRegexp(`…`) rule's regular expression, as JavaScript reads it (Go's leading (?i) becomes the i flag). */
export function pathRegexpOf(rule: string): RegExp {
  const match = /^PathRegexp\(`(.*)`\)$/.exec(rule);
  if (!match?.[1]) throw new Error(`not a single PathRegexp rule: ${rule}`);
  const text = match[1];
  return text.startsWith("(?i)") ? new RegExp(text.slice(4), "i") : new RegExp(text);
}
