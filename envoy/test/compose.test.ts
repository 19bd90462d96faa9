// docker-compose.yml as Docker Compose would read it (no Docker engine here): the Compose
// specification's schema, start order, health checks, published ports, secrets and variables.
import { existsSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { loadComposeSpecSchema } from "../src/deploy/compose-spec.js";
import { parseEnvFile } from "../src/deploy/env-file.js";
import { interpolateDeep, referencedVariables } from "../src/deploy/interpolate.js";
import { validateJsonSchema } from "../src/deploy/json-schema.js";
import {
  environmentOf,
  loadCompose,
  loadComposeSource,
  publishedPorts,
  REQUIRED_VARIABLES,
} from "./helpers/compose.js";
import { loadDockerfile } from "./helpers/dockerfiles.js";
import { placeholder } from "./helpers/envoy-config.js";
import { readRepoFile, repoPath } from "./helpers/repo.js";
import { NODE_SERVICES, type NodeService, serviceConfig, serviceVariables } from "./helpers/services.js";

const compose = loadCompose();
const services: Record<string, any> = compose.services;
const composeText = readRepoFile("docker-compose.yml");
const envExample = parseEnvFile(readRepoFile(".env.example"));
const isOneShot = (service: any) => service.restart === "no";

/** A healthcheck in the compose file, or the HEALTHCHECK of the Dockerfile it is built from. */
function hasHealthcheck(service: any): boolean {
  if (service.healthcheck) return service.healthcheck.disable !== true;
  const dockerfile: string | undefined = service.build?.dockerfile;
  const built = NODE_SERVICES.find((s) => dockerfile === `${s}/Dockerfile`);
  return built !== undefined && loadDockerfile(built).argsOf("HEALTHCHECK").length > 0;
}

describe("the Compose specification", () => {
  test("docker-compose.yml matches the Compose specification's JSON schema", () => {
    expect(validateJsonSchema(loadComposeSpecSchema(), compose)).toEqual([]);
  });

  test("the schema check catches what Compose would refuse", () => {
    const broken = structuredClone(compose);
    broken.services.envoy.healthchek = broken.services.envoy.healthcheck;
    broken.services.redis.depends_on = { postgres: { condition: "service_happy" } };
    const paths = validateJsonSchema(loadComposeSpecSchema(), broken).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(["services.envoy.healthchek", "services.redis.depends_on"]));
  });
});

describe("services", () => {
  test.each(Object.keys(services))("%s has an image or a build", (name) => {
    expect(services[name].image ?? services[name].build).toBeDefined();
  });

  test.each(Object.keys(services))("%s's image is pinned to a version", (name) => {
    const image = String(services[name].image ?? "");
    if (services[name].build) {
      expect(image).toMatch(/^api-key-gateway\/[a-z-]+:local$/);
    } else {
      // Postgres numbers releases major.minor; the others major.minor.patch.
      expect(image).toMatch(/:v?\d+\.\d+(\.\d+)?(-[a-z0-9.]+)?(@sha256:[0-9a-f]{64})?$/);
    }
  });

  test("each service built here uses its own Dockerfile with the repository as context", () => {
    for (const service of Object.values(services).filter((s) => s.build)) {
      expect(service.build.context).toBe(".");
      expect(existsSync(repoPath(service.build.dockerfile))).toBe(true);
    }
  });

  test.each(Object.keys(services).filter((n) => !isOneShot(services[n])))(
    "%s has a health check and restarts unless stopped",
    (name) => {
      expect(hasHealthcheck(services[name])).toBe(true);
      expect(services[name].restart).toBe("unless-stopped");
    },
  );
});

describe("start order", () => {
  const dependencies = Object.entries(services).flatMap(([name, service]) =>
    Object.entries((service.depends_on ?? {}) as Record<string, { condition: string }>).map(([on, d]) => ({
      name,
      on,
      condition: d.condition,
    })),
  );

  test("every dependency is a service with a condition that can be met", () => {
    for (const { name, on, condition } of dependencies) {
      const target = services[on];
      expect(target, `${name} depends on ${on}`).toBeDefined();
      if (condition === "service_healthy")
        expect(hasHealthcheck(target), `${on} has no health check`).toBe(true);
      if (condition === "service_completed_successfully")
        expect(isOneShot(target), `${on} is not one-shot`).toBe(true);
      expect(["service_healthy", "service_completed_successfully"]).toContain(condition);
    }
  });

  test("the dependencies have no cycle", () => {
    const visiting = new Set<string>();
    const done = new Set<string>();
    const visit = (name: string, trail: string[]): void => {
      if (done.has(name)) return;
      expect(visiting.has(name), `cycle: ${[...trail, name].join(" → ")}`).toBe(false);
      visiting.add(name);
      for (const d of dependencies.filter((d) => d.name === name)) visit(d.on, [...trail, name]);
      visiting.delete(name);
      done.add(name);
    };
    for (const name of Object.keys(services)) visit(name, []);
  });

  test("the database is migrated once, before anything that uses it starts", () => {
    const migrate = services.migrate;
    expect(migrate.image).toBe(services["api-key-service"].image);
    expect(migrate.command).toEqual(["node", "dist/migrate.js"]);
    expect(isOneShot(migrate)).toBe(true);
    for (const name of ["api-key-service", "billing-sidecar"]) {
      expect(services[name].depends_on.migrate).toEqual({ condition: "service_completed_successfully" });
    }
    expect(environmentOf(services["api-key-service"]).MIGRATE_ON_START).toBe("false");
  });

  test("Envoy starts once every upstream is healthy", () => {
    for (const name of NODE_SERVICES) {
      expect(services.envoy.depends_on[name]).toEqual({ condition: "service_healthy" });
    }
  });
});

describe("ports", () => {
  test("only the gateway's TLS listener and the management API face the network", () => {
    const open = Object.entries(services).flatMap(([name, service]) =>
      publishedPorts(service)
        .filter((p) => !["127.0.0.1", "::1", "[::1]"].includes(p.hostIp))
        .map((p) => `${name}:${p.hostPort}`),
    );
    expect(open.sort()).toEqual(["api-key-service:8080", "envoy:8443"]);
    // The plain listener stays reachable from this machine, for local use.
    expect(publishedPorts(services.envoy)).toContainEqual({
      hostIp: "127.0.0.1",
      hostPort: 8000,
      containerPort: 8000,
    });
  });
});

describe("secrets", () => {
  const SECRET = /(TOKEN|PASSWORD|SECRET|_API_KEY)$/;

  test("secrets come from the environment, never from the file", () => {
    const source = loadComposeSource();
    for (const [name, service] of Object.entries(source.services as Record<string, any>)) {
      for (const [key, value] of Object.entries(environmentOf(service))) {
        // ${NAME}, ${NAME:?message} or, for an optional secret, ${NAME:-}: never a default value.
        if (SECRET.test(key)) expect(value, `${name}.${key}`).toMatch(secretReference(key));
        // A URL's password is a reference to POSTGRES_PASSWORD too.
        const password = /:\/\/[^:/@]+:([^@]*)@/.exec(value)?.[1];
        if (password !== undefined)
          expect(password, `${name}.${key}`).toMatch(secretReference("POSTGRES_PASSWORD"));
      }
    }
  });

  test.each(Object.keys(REQUIRED_VARIABLES))(
    "compose refuses to start without %s, unset or empty",
    (name) => {
      const { [name]: _, ...others } = REQUIRED_VARIABLES as Record<string, string>;
      expect(() => interpolateDeep(loadComposeSource(), others)).toThrow(name);
      expect(() => interpolateDeep(loadComposeSource(), { ...others, [name]: "" })).toThrow(name);
    },
  );

  test(".env.example commits no secret: the required values are blank", () => {
    for (const name of Object.keys(REQUIRED_VARIABLES)) {
      expect(envExample.find((e) => e.name === name)).toMatchObject({ value: "", commented: false });
    }
    for (const entry of envExample.filter((e) => e.value !== ""))
      expect(entry.commented, entry.name).toBe(true);
  });
});

describe("variables", () => {
  const documented = new Set(envExample.map((e) => e.name));
  const referenced = referencedVariables(composeText);

  test("every variable .env.example documents is passed on by docker-compose.yml", () => {
    expect([...documented].filter((v) => !referenced.has(v))).toEqual([]);
  });

  test("every variable docker-compose.yml reads is documented in .env.example", () => {
    expect([...referenced].filter((v) => !documented.has(v))).toEqual([]);
  });

  /** Every variable .env.example shows, set to the value it shows, plus the required ones. */
  const exampleValues = {
    ...Object.fromEntries(envExample.map((e) => [e.name, e.value])),
    ...REQUIRED_VARIABLES,
  };
  const configured = loadCompose(exampleValues);
  const nodeServices = NODE_SERVICES.filter((s) => configured.services[s].environment);

  test.each(nodeServices)(
    "%s accepts every value .env.example shows and reads every variable passed",
    (service) => {
      const env = environmentOf(configured.services[service]);
      const config = serviceConfig(service, env);
      const ignored = Object.keys(env).filter((k) => env[k] !== "" && !(k in config));
      expect(ignored, "variables the service does not read").toEqual([]);
    },
  );

  test("a commented-out value in .env.example is the service's own default", () => {
    const wrong: string[] = [];
    for (const entry of envExample.filter((e) => e.commented)) {
      for (const service of servicesPassing(entry.name)) {
        const base = environmentOf(compose.services[service]);
        const byDefault = serviceConfig(service, base)[entry.name];
        if (byDefault === undefined) continue; // no default: the value is an example
        const shown = serviceConfig(service, { ...base, [entry.name]: entry.value })[entry.name];
        if (JSON.stringify(shown) !== JSON.stringify(byDefault))
          wrong.push(`${service}: ${entry.name}=${entry.value}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  test.each(NODE_SERVICES)("compose passes %s every variable it reads, but the ports it keeps", (service) => {
    const KEPT_AT_DEFAULT = ["HOST", "HTTP_PORT", "GRPC_PORT", "AUTH_HTTP_PORT", "ALS_PORT", "PORT"];
    const passed = new Set(Object.keys(environmentOf(services[service])));
    const missing = serviceVariables(service).filter((v) => !passed.has(v) && !KEPT_AT_DEFAULT.includes(v));
    expect(missing).toEqual([]);
  });
});

function secretReference(name: string): RegExp {
  return new RegExp(`^\\$\\{${name}(\\}|:?\\?[^}]*\\}|:-\\})$`);
}

function servicesPassing(variable: string): NodeService[] {
  const source = loadComposeSource();
  return NODE_SERVICES.filter((s) =>
    referencedVariables(JSON.stringify(source.services[s].environment ?? {})).has(variable),
  );
}

describe("Envoy's secrets", () => {
  test("Envoy starts through envoy/start.sh with INTERNAL_TOKEN, the services get the same variable", () => {
    const source = loadComposeSource();
    expect(source.services.envoy.entrypoint).toEqual(["bash", "/etc/envoy/start.sh"]);
    for (const name of ["envoy", "api-key-service", "billing-sidecar"])
      expect(environmentOf(source.services[name]).INTERNAL_TOKEN, name).toMatch(
        secretReference("INTERNAL_TOKEN"),
      );
    expect(environmentOf(services.envoy).INTERNAL_TOKEN).toBe(REQUIRED_VARIABLES.INTERNAL_TOKEN);
  });

  test("the template, the start script and the certificate directory are mounted where start.sh reads them", () => {
    const volumes: string[] = services.envoy.volumes;
    expect(volumes).toEqual(
      expect.arrayContaining([
        "./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro",
        "./envoy/start.sh:/etc/envoy/start.sh:ro",
        "./envoy/tls:/etc/envoy-tls:ro",
      ]),
    );
    const script = readRepoFile("envoy/start.sh");
    expect(script).toContain(`TEMPLATE=${placeholder("ENVOY_TEMPLATE:-/etc/envoy/envoy.yaml")}`);
    expect(script).toContain(`TLS_SOURCE=${placeholder("ENVOY_TLS_SOURCE:-/etc/envoy-tls")}`);
    // The directory exists in a fresh clone (Docker would otherwise create it, owned by root), and
    // ignores what dev-cert.sh writes there.
    expect(existsSync(repoPath("envoy/tls/.gitignore"))).toBe(true);
  });
});
