import { parse } from "yaml";
import { interpolateDeep, type Variables } from "../../src/deploy/interpolate.js";
import { readRepoFile } from "./repo.js";

/** What a user must put in .env; everything else has a default. */
export const REQUIRED_VARIABLES = {
  ADMIN_TOKEN: "f".repeat(64),
  INTERNAL_TOKEN: "e".repeat(64),
  POSTGRES_PASSWORD: "0123456789abcdef",
} as const;

/** docker-compose.yml as written, before variable substitution. */
export function loadComposeSource(): any {
  return parse(readRepoFile("docker-compose.yml"));
}

/** docker-compose.yml as Compose sees it with these variables set. */
export function loadCompose(vars: Variables = REQUIRED_VARIABLES): any {
  return interpolateDeep(loadComposeSource(), vars);
}

/** A service's environment as a map, whichever of the two forms compose allows it is written in. */
export function environmentOf(service: any): Record<string, string> {
  const env = service.environment ?? {};
  if (!Array.isArray(env)) {
    return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? "" : String(v)]));
  }
  return Object.fromEntries(
    (env as string[]).map((line) => {
      const [name = "", ...value] = line.split("=");
      return [name, value.join("=")];
    }),
  );
}

/** Published ports in the short syntax, as host IP, host port and container port. */
export function publishedPorts(service: any): { hostIp: string; hostPort: number; containerPort: number }[] {
  return ((service.ports ?? []) as unknown[]).map((entry) => {
    if (typeof entry === "object" && entry !== null) {
      const long = entry as { host_ip?: string; published?: string | number; target: string | number };
      return {
        hostIp: long.host_ip ?? "0.0.0.0",
        hostPort: Number(long.published),
        containerPort: Number(long.target),
      };
    }
    const parts = String(entry).split(":");
    const containerPort = Number(parts.at(-1));
    const hostPort = parts.length > 1 ? Number(parts.at(-2)) : containerPort;
    const hostIp = parts.length > 2 ? (parts.slice(0, -2).join(":") as string) : "0.0.0.0";
    return { hostIp, hostPort, containerPort };
  });
}
