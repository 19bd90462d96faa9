import { describe, expect, test } from "vitest";
import {
  BOOTSTRAP_TYPE,
  envoyProtos,
  formatIssues,
  type Issue,
  parseEnvoyYaml,
  validateConfig,
  validateEnvoyYaml,
} from "../src/index.js";
import { clusterIndex, EXT_AUTHZ, hcmOf, httpFilterIndex, loadEnvoyConfig } from "./helpers/envoy-config.js";
import { readRepoFile, repoFiles } from "./helpers/repo.js";

const validate = (config: unknown): Issue[] => validateConfig(envoyProtos(), config, BOOTSTRAP_TYPE);

describe("every Envoy config the project ships", () => {
  const files = repoFiles("envoy", [".yaml", ".yml"]).filter((f) => !f.includes("/test/"));

  test("includes envoy/envoy.yaml", () => {
    expect(files).toContain("envoy/envoy.yaml");
  });

  test.each(files)("%s is valid against Envoy's v3 bootstrap schema", (file) => {
    expect(formatIssues(validateEnvoyYaml(readRepoFile(file)))).toBe("");
  });
});

/** A broken copy of the shipped config: what breaks it, and where the validator must point. */
interface Breakage {
  name: string;
  breakIt: (config: any) => void;
  path: (config: any) => string;
  message: RegExp;
}

const hcmPath = (config: any) => hcmOf(config).path;
const extAuthzPath = (config: any) =>
  `${hcmPath(config)}.http_filters[${httpFilterIndex(config, EXT_AUTHZ)}]`;
const extAuthz = (config: any) => hcmOf(config).hcm.http_filters[httpFilterIndex(config, EXT_AUTHZ)];
const clusterPath = (config: any, name: string) => `static_resources.clusters[${clusterIndex(config, name)}]`;
const cluster = (config: any, name: string) => config.static_resources.clusters[clusterIndex(config, name)];
const endpointPath = "load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address";

const breakages: Breakage[] = [
  {
    name: "an unknown field in a typed_config",
    breakIt: (c) => {
      const { hcm } = hcmOf(c);
      hcm.stat_prefx = hcm.stat_prefix;
      delete hcm.stat_prefix;
    },
    path: (c) => `${hcmPath(c)}.stat_prefx`,
    message: /unknown field of .*HttpConnectionManager \(did you mean stat_prefix\?\)/,
  },
  {
    name: "an unknown top-level field",
    breakIt: (c) => {
      c.static_resource = c.static_resources;
    },
    path: () => "static_resource",
    message: /unknown field of envoy\.config\.bootstrap\.v3\.Bootstrap/,
  },
  {
    name: "an unknown field inside a per-route Any",
    breakIt: (c) => {
      const health = hcmOf(c).hcm.route_config.virtual_hosts[0].routes[0];
      health.typed_per_filter_config[EXT_AUTHZ].disable = true;
    },
    path: (c) =>
      `${hcmPath(c)}.route_config.virtual_hosts[0].routes[0].typed_per_filter_config["${EXT_AUTHZ}"].disable`,
    message: /unknown field of .*ExtAuthzPerRoute/,
  },
  {
    name: "a bad enum name",
    breakIt: (c) => {
      hcmOf(c).hcm.codec_type = "AUTOMATIC";
    },
    path: (c) => `${hcmPath(c)}.codec_type`,
    message: /"AUTOMATIC" is not a value of .*CodecType/,
  },
  {
    name: "a bad enum name in a nested message",
    breakIt: (c) => {
      extAuthz(c).typed_config.status_on_error.code = "ServiceUnavailible";
    },
    path: (c) => `${extAuthzPath(c)}.typed_config.status_on_error.code`,
    message: /not a value of envoy\.type\.v3\.StatusCode \(did you mean ServiceUnavailable\?\)/,
  },
  {
    name: "an @type that names no message",
    breakIt: (c) => {
      extAuthz(c).typed_config["@type"] =
        "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthzz";
    },
    path: (c) => `${extAuthzPath(c)}.typed_config["@type"]`,
    message: /no message type envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthzz/,
  },
  {
    name: "an @type in a package Envoy does not have",
    breakIt: (c) => {
      extAuthz(c).typed_config["@type"] =
        "type.googleapis.com/envoy.extensions.filters.http.no_such_filter.v3.Config";
    },
    path: (c) => `${extAuthzPath(c)}.typed_config["@type"]`,
    message: /no message type/,
  },
  {
    name: "a typed_config without @type",
    breakIt: (c) => {
      delete extAuthz(c).typed_config["@type"];
    },
    path: (c) => `${extAuthzPath(c)}.typed_config["@type"]`,
    message: /missing/,
  },
  {
    name: "text where a port number belongs",
    breakIt: (c) => {
      cluster(
        c,
        "api-key-service",
      ).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value =
        "nine thousand";
    },
    path: (c) => `${clusterPath(c, "api-key-service")}.${endpointPath}.port_value`,
    message: /expected uint32/,
  },
  {
    name: "a port out of range",
    breakIt: (c) => {
      cluster(
        c,
        "billing-sidecar",
      ).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = 90020;
    },
    path: (c) => `${clusterPath(c, "billing-sidecar")}.${endpointPath}.port_value`,
    message: /must be at most 65535/,
  },
  {
    name: "a string where a boolean belongs",
    breakIt: (c) => {
      extAuthz(c).typed_config.failure_mode_allow = "no";
    },
    path: (c) => `${extAuthzPath(c)}.typed_config.failure_mode_allow`,
    message: /expected true or false/,
  },
  {
    name: "a duration without seconds",
    breakIt: (c) => {
      extAuthz(c).typed_config.grpc_service.timeout = "250ms";
    },
    path: (c) => `${extAuthzPath(c)}.typed_config.grpc_service.timeout`,
    message: /expected a duration/,
  },
  {
    name: "a single value where a list belongs",
    breakIt: (c) => {
      hcmOf(c).hcm.route_config.virtual_hosts[0].domains = "*";
    },
    path: (c) => `${hcmPath(c)}.route_config.virtual_hosts[0].domains`,
    message: /expected a list/,
  },
  {
    name: "two members of one oneof",
    breakIt: (c) => {
      hcmOf(c).hcm.route_config.virtual_hosts[0].routes[0].match.prefix = "/";
    },
    path: (c) => `${hcmPath(c)}.route_config.virtual_hosts[0].routes[0].match.prefix`,
    message: /path is set too, but only one of .* may be/,
  },
  {
    name: "a route match with no path rule",
    breakIt: (c) => {
      hcmOf(c).hcm.route_config.virtual_hosts[0].routes[0].match = { case_sensitive: true };
    },
    path: (c) => `${hcmPath(c)}.route_config.virtual_hosts[0].routes[0].match`,
    message: /one of prefix, path, .* is required/,
  },
  {
    name: "an empty string Envoy requires",
    breakIt: (c) => {
      hcmOf(c).hcm.stat_prefix = "";
    },
    path: (c) => `${hcmPath(c)}.stat_prefix`,
    message: /must not be empty/,
  },
  {
    name: "a missing gRPC cluster name",
    breakIt: (c) => {
      extAuthz(c).typed_config.grpc_service.envoy_grpc = {};
    },
    path: (c) => `${extAuthzPath(c)}.typed_config.grpc_service.envoy_grpc.cluster_name`,
    message: /must not be empty/,
  },
  {
    name: "a deprecated field",
    breakIt: (c) => {
      cluster(c, "backend-service").http2_protocol_options = {};
    },
    path: (c) => `${clusterPath(c, "backend-service")}.http2_protocol_options`,
    message: /deprecated field of envoy\.config\.cluster\.v3\.Cluster/,
  },
];

describe("a broken copy of envoy.yaml is refused, naming where", () => {
  test.each(breakages)("$name", ({ breakIt, path, message }) => {
    const config = loadEnvoyConfig();
    breakIt(config);
    const issues = validate(config);
    const expectedPath = path(config);
    expect(
      issues.map((i) => i.path),
      formatIssues(issues),
    ).toContain(expectedPath);
    expect(issues.find((i) => i.path === expectedPath)?.message).toMatch(message);
  });

  test("the unbroken copy has no issue, so each issue above comes from its breakage", () => {
    expect(formatIssues(validate(loadEnvoyConfig()))).toBe("");
  });
});

describe("what Envoy's loader also accepts", () => {
  test("JSON (lowerCamelCase) field names", () => {
    const config = loadEnvoyConfig();
    const { hcm } = hcmOf(config);
    hcm.statPrefix = hcm.stat_prefix;
    delete hcm.stat_prefix;
    expect(formatIssues(validate(config))).toBe("");
  });

  test("enum numbers and quoted integers", () => {
    const config = loadEnvoyConfig();
    hcmOf(config).hcm.codec_type = 0;
    cluster(
      config,
      "backend-service",
    ).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address.port_value = "3000";
    expect(formatIssues(validate(config))).toBe("");
  });
});

describe("YAML that Envoy could not read", () => {
  test("a duplicate key is an issue", () => {
    const { issues } = parseEnvoyYaml("admin: {}\nadmin: {}\n");
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toMatch(/unique/i);
  });

  test("the whole file is refused through validateEnvoyYaml", () => {
    expect(validateEnvoyYaml("node: { id: a }\nnode: { id: b }\n")).not.toEqual([]);
  });
});
