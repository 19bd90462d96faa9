// The Node services' own configuration modules: their defaults are the truth that envoy.yaml,
// docker-compose.yml, the Dockerfiles and k8s/ must agree with.
import { loadConfig as apiKeyServiceConfig } from "../../../api-key-service/src/config.js";
import { loadConfig as backendServiceConfig } from "../../../backend-service/src/config.js";
import { loadConfig as billingSidecarConfig } from "../../../billing-sidecar/src/config.js";
import { readRepoFile } from "./repo.js";

export const NODE_SERVICES = ["api-key-service", "billing-sidecar", "backend-service"] as const;
export type NodeService = (typeof NODE_SERVICES)[number];

type Env = Record<string, string | undefined>;

/** The least each service needs to start: only what has no default. */
export const MINIMAL_ENV: Record<NodeService, Env> = {
  "api-key-service": {
    DATABASE_URL: "postgres://gateway@postgres:5432/gateway",
    REDIS_URL: "redis://redis:6379",
    ADMIN_TOKEN: "0123456789abcdef0123456789abcdef",
  },
  "billing-sidecar": { DATABASE_URL: "postgres://gateway@postgres:5432/gateway" },
  "backend-service": {},
};

/** Parses an environment the way the service does at start; throws the service's own message. */
export function serviceConfig(service: NodeService, env: Env): Record<string, unknown> {
  const load = {
    "api-key-service": apiKeyServiceConfig,
    "billing-sidecar": billingSidecarConfig,
    "backend-service": backendServiceConfig,
  }[service];
  return { ...load(env) };
}

export const serviceDefaults = (service: NodeService) => serviceConfig(service, MINIMAL_ENV[service]);

/** The port each service is reached on through Envoy, from its own defaults. */
export function upstreamPorts(): Record<NodeService, number> {
  return {
    "api-key-service": Number(serviceDefaults("api-key-service").GRPC_PORT),
    "billing-sidecar": Number(serviceDefaults("billing-sidecar").ALS_PORT),
    "backend-service": Number(serviceDefaults("backend-service").PORT),
  };
}

/** Each service's HTTP port with /health on it. */
export function healthPorts(): Record<NodeService, number> {
  return {
    "api-key-service": Number(serviceDefaults("api-key-service").HTTP_PORT),
    "billing-sidecar": Number(serviceDefaults("billing-sidecar").HTTP_PORT),
    "backend-service": Number(serviceDefaults("backend-service").PORT),
  };
}

/**
 * Every environment variable a service reads: the keys of its zod schema (read from the source, since
 * the schema is not exported and optional keys are absent from a parsed config), else its parsed keys.
 */
export function serviceVariables(service: NodeService): string[] {
  const source = readRepoFile(`${service}/src/config.ts`);
  const start = source.indexOf("z.object({");
  if (start < 0) return Object.keys(serviceDefaults(service));
  const body = source.slice(start, source.indexOf("\n});", start));
  return [...body.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)].map((m) => m[1] as string);
}
