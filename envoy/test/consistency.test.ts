// One port, one name, everywhere: envoy.yaml, docker-compose.yml, the Dockerfiles and k8s/ must agree
// with the defaults in the services' own config modules, and with each other.
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { environmentOf, loadCompose, publishedPorts } from "./helpers/compose.js";
import { exposedPorts, loadDockerfile } from "./helpers/dockerfiles.js";
import { clusterOf, endpointsOf, loadEnvoyConfig } from "./helpers/envoy-config.js";
import { k8sManifests, podPorts, servicesNamed, workloadsSelectedBy } from "./helpers/k8s.js";
import { readRepoFile } from "./helpers/repo.js";
import {
  healthPorts,
  MINIMAL_ENV,
  NODE_SERVICES,
  serviceConfig,
  serviceDefaults,
  upstreamPorts,
} from "./helpers/services.js";

const envoy = loadEnvoyConfig();
const compose = loadCompose();
const ports = upstreamPorts();
const GATEWAY_PORT: number = envoy.static_resources.listeners[0].address.socket_address.port_value;

describe("envoy.yaml and the services' defaults", () => {
  test("the services listen where the design says", () => {
    expect(ports).toEqual({ "api-key-service": 9001, "billing-sidecar": 9002, "backend-service": 3000 });
    expect(healthPorts()).toEqual({
      "api-key-service": 8080,
      "billing-sidecar": 9091,
      "backend-service": 3000,
    });
  });

  test.each(NODE_SERVICES)("Envoy reaches %s on its DNS name and its default port", (service) => {
    expect(endpointsOf(clusterOf(envoy, service))).toEqual([{ host: service, port: ports[service] }]);
  });

  test("pnpm stack can point every upstream at 127.0.0.1 (scripts/stack.ts rewrites these lines)", () => {
    const text = readRepoFile("envoy/envoy.yaml");
    for (const service of NODE_SERVICES) {
      expect(text).toContain(`{ address: ${service}, port_value: ${ports[service]} }`);
    }
    expect(text.match(new RegExp(`port_value: ${GATEWAY_PORT}\\b`, "g"))).toHaveLength(1);
  });
});

describe("docker-compose.yml and envoy.yaml", () => {
  test.each(NODE_SERVICES)(
    "%s is a compose service of that name, so Envoy's DNS name resolves",
    (service) => {
      expect(compose.services[service]).toBeDefined();
    },
  );

  test.each(NODE_SERVICES)("compose leaves %s on the ports Envoy and its health check use", (service) => {
    const config = serviceConfig(service, {
      ...MINIMAL_ENV[service],
      ...environmentOf(compose.services[service]),
    });
    const defaults = serviceDefaults(service);
    for (const key of ["HTTP_PORT", "GRPC_PORT", "ALS_PORT", "PORT", "HOST"]) {
      expect(config[key], key).toEqual(defaults[key]);
    }
  });

  test("the gateway is published on Envoy's listener ports: TLS to the network, plain HTTP to this machine", () => {
    const tlsPort: number = envoy.static_resources.listeners.find((l: any) => l.name === "gateway_tls")
      .address.socket_address.port_value;
    expect(publishedPorts(compose.services.envoy)).toEqual([
      { hostIp: "127.0.0.1", hostPort: GATEWAY_PORT, containerPort: GATEWAY_PORT },
      { hostIp: "0.0.0.0", hostPort: tlsPort, containerPort: tlsPort },
    ]);
  });

  test("the management API is published on api-key-service's HTTP port", () => {
    const port = healthPorts()["api-key-service"];
    expect(publishedPorts(compose.services["api-key-service"])).toContainEqual({
      hostIp: "0.0.0.0",
      hostPort: port,
      containerPort: port,
    });
  });

  test("Envoy runs the envoy.yaml in this repository", () => {
    expect(compose.services.envoy.volumes).toContain("./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro");
    const command: string[] | undefined = compose.services.envoy.command;
    if (command) expect(command.join(" ")).toContain("/etc/envoy/envoy.yaml");
  });
});

describe("the Dockerfiles and the services' defaults", () => {
  test.each(NODE_SERVICES)("%s/Dockerfile exposes the service's ports", (service) => {
    const expected = new Set([ports[service], healthPorts()[service]]);
    expect(new Set(exposedPorts(loadDockerfile(service)))).toEqual(expected);
  });

  test.each(NODE_SERVICES)("%s/Dockerfile's health check asks the default HTTP port", (service) => {
    const [healthcheck = ""] = loadDockerfile(service).argsOf("HEALTHCHECK");
    expect(healthcheck).toContain(`|| ${healthPorts()[service]})`);
    expect(healthcheck).toContain("/health");
  });
});

describe.skipIf(k8sManifests().length === 0)("k8s/ manifests (skipped until k8s/ has manifests)", () => {
  const manifests = k8sManifests();

  test.each(NODE_SERVICES)("a Service named %s offers the port Envoy dials", (service) => {
    const [svc] = servicesNamed(manifests, service);
    expect(svc, `no Service named ${service} in k8s/`).toBeDefined();
    expect((svc.spec.ports as any[]).map((p) => p.port)).toContain(ports[service]);
  });

  test("every Service port leads to a container port of the pods it selects", () => {
    const problems: string[] = [];
    for (const svc of manifests.filter((m) => m.doc.kind === "Service")) {
      const workloads = workloadsSelectedBy(manifests, svc.doc);
      if (workloads.length === 0)
        problems.push(`${svc.file}: Service ${svc.doc.metadata.name} selects no workload`);
      for (const port of svc.doc.spec.ports as any[]) {
        const target = port.targetPort ?? port.port;
        for (const workload of workloads) {
          const open = podPorts(workload.doc);
          if (!open.some((p) => p.containerPort === target || p.name === target)) {
            problems.push(
              `${svc.file}: Service ${svc.doc.metadata.name} port ${port.port} → ${target} is not a container port of ${workload.doc.metadata.name}`,
            );
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test("a container's port variables name one of its own container ports", () => {
    const problems: string[] = [];
    for (const workload of manifests.filter((m) => m.doc.spec?.template?.spec?.containers)) {
      for (const container of workload.doc.spec.template.spec.containers as any[]) {
        const open = ((container.ports ?? []) as any[]).map((p) => p.containerPort);
        for (const env of (container.env ?? []) as any[]) {
          if (/(^|_)PORT$/.test(env.name) && env.value !== undefined && !open.includes(Number(env.value))) {
            problems.push(
              `${workload.file}: ${container.name} sets ${env.name}=${env.value} but opens ${open.join(", ")}`,
            );
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  test("an envoy.yaml embedded in a ConfigMap is the one in envoy/", () => {
    for (const map of manifests.filter((m) => m.doc.kind === "ConfigMap")) {
      for (const [key, text] of Object.entries((map.doc.data ?? {}) as Record<string, string>)) {
        if (key.endsWith("envoy.yaml")) expect(parse(text), `${map.file} ${key}`).toEqual(envoy);
      }
    }
  });

  const containers = manifests
    .filter((m) => m.doc.spec?.template?.spec?.containers)
    .flatMap((m) => m.doc.spec.template.spec.containers as any[]);
  const imagesLike = (name: string) =>
    containers
      .map((c) => String(c.image).replace(/^docker\.io\/(library\/)?/, ""))
      .filter((i) => i.startsWith(`${name}:`));

  test("k8s runs the same Envoy as docker compose", () => {
    expect(imagesLike("envoyproxy/envoy")).toEqual([compose.services.envoy.image]);
  });

  test.each(["postgres", "redis"])("k8s and docker compose run the same major version of %s", (name) => {
    const major = (image: string) => /:(\d+)/.exec(image)?.[1];
    const composeImage = Object.values(compose.services as Record<string, any>).find((s) =>
      String(s.image).startsWith(`${name}:`),
    ).image;
    for (const image of imagesLike(name)) expect(major(image), image).toBe(major(composeImage));
  });

  test("k8s's migration Job and compose's migrate service run the file the image builds", () => {
    const jobs = manifests
      .filter((m) => m.doc.kind === "Job")
      .flatMap((m) => m.doc.spec.template.spec.containers);
    const commands = [...jobs.map((c: any) => c.command ?? c.args), compose.services.migrate.command];
    const dockerfile = loadDockerfile("api-key-service").text;
    for (const command of commands) {
      const script = (command as string[]).find((part) => part.startsWith("dist/"));
      expect(script, JSON.stringify(command)).toBeDefined();
      expect(dockerfile).toContain(`api-key-service/${script}`);
    }
  });
});
