import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
// The validator envoy/envoy.yaml is checked with (Envoy's own v3 protos), shared rather than copied.
import { formatIssues, validateEnvoyYaml } from "../../envoy/src/index.js";
import { ENDPOINT } from "./helpers/endpoint.js";
import { REPO_ROOT } from "./helpers/gateway.js";

const FILE = "gateways/envoy-http/envoy.yaml";
const EXT_AUTHZ = "envoy.filters.http.ext_authz";
const HEADER_MUTATION = "envoy.filters.http.header_mutation";
const TOKEN = "envoy-http-test-internal-token-0123456789abcdef";

const text = readFileSync(join(REPO_ROOT, FILE), "utf8");

/** The file rendered as its container renders it: envoy/start.sh, with a scripts/dev-cert.sh certificate. */
function render(): string {
  const dir = mkdtempSync(join(tmpdir(), "envoy-http-"));
  execFileSync("bash", ["scripts/dev-cert.sh", join(dir, "tls")], { cwd: REPO_ROOT, stdio: "ignore" });
  const path = execFileSync("bash", ["envoy/start.sh", "--render-only"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: {
      PATH: process.env.PATH ?? "",
      INTERNAL_TOKEN: TOKEN,
      ENVOY_TEMPLATE: FILE,
      ENVOY_TLS_SOURCE: join(dir, "tls"),
      ENVOY_RUN_DIR: join(dir, "run"),
    },
  }).trim();
  return readFileSync(path, "utf8");
}

describe(`${FILE} against Envoy's v3 bootstrap schema`, () => {
  test("the template is valid", () => {
    expect(formatIssues(validateEnvoyYaml(text))).toBe("");
  });

  test("rendered by envoy/start.sh, it is valid and carries the token", () => {
    const rendered = render();
    expect(formatIssues(validateEnvoyYaml(rendered))).toBe("");
    expect(rendered).toContain(`value: "${TOKEN}"`);
  });
});

describe("what the Envoy HTTP ext_authz example must say for the check to work", () => {
  const config = parse(text);
  const hcm = config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
  const filters: any[] = hcm.http_filters;
  const filterIndex = (name: string) => filters.findIndex((f) => f.name === name);
  const extAuthz = filters[filterIndex(EXT_AUTHZ)].typed_config;
  const virtualHost = hcm.route_config.virtual_hosts[0];
  const route = (name: string) => virtualHost.routes.find((r: any) => r.name === name);
  const patterns = (list: any) => (list.patterns as any[]).map((p) => p.exact ?? `${p.prefix}*`);

  test("asks the forward-auth endpoint over HTTP, on its port, below its path", () => {
    const service = extAuthz.http_service;
    expect(extAuthz).not.toHaveProperty("grpc_service");
    expect(service.path_prefix).toBe(ENDPOINT.path);
    const cluster = config.static_resources.clusters.find((c: any) => c.name === service.server_uri.cluster);
    const address = cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(address.port_value).toBe(ENDPOINT.port);
    expect(new URL(service.server_uri.uri).port).toBe(String(ENDPOINT.port));
  });

  test("fails closed with 503", () => {
    expect(extAuthz.failure_mode_allow).toBe(false);
    expect(extAuthz.status_on_error.code).toBe("ServiceUnavailable");
  });

  test("sends the key's headers, the route's scopes and cost, and the gateway token to the check", () => {
    // Authorization is always sent; the rest only when allowed.
    expect(patterns(extAuthz.allowed_headers)).toEqual(
      expect.arrayContaining([ENDPOINT.apiKeyHeader, ENDPOINT.scopesHeader, ENDPOINT.costHeader]),
    );
    expect(extAuthz.http_service.authorization_request.headers_to_add).toEqual([
      { key: ENDPOINT.tokenHeader, value: `\${INTERNAL_TOKEN}` },
    ]);
  });

  test("the identity reaches the backend, the limits and refusals reach the client", () => {
    const response = extAuthz.http_service.authorization_response;
    expect(patterns(response.allowed_upstream_headers).sort()).toEqual([...ENDPOINT.identityHeaders].sort());
    for (const list of [response.allowed_client_headers, response.allowed_client_headers_on_success])
      expect(patterns(list)).toEqual(
        expect.arrayContaining(["ratelimit", "ratelimit-policy", "x-ratelimit-*"]),
      );
    expect(patterns(response.allowed_client_headers)).toEqual(
      expect.arrayContaining(["retry-after", "content-type"]),
    );
  });

  test("the key never reaches the backend", () => {
    expect(virtualHost.request_headers_to_remove).toEqual(
      expect.arrayContaining([ENDPOINT.authorizationHeader, ENDPOINT.apiKeyHeader]),
    );
  });

  test("scopes and cost are the route's: removed from the client's request before the check, then set per route", () => {
    expect(filterIndex(HEADER_MUTATION)).toBeGreaterThanOrEqual(0);
    expect(filterIndex(HEADER_MUTATION)).toBeLessThan(filterIndex(EXT_AUTHZ));
    const removed = filters[filterIndex(HEADER_MUTATION)].typed_config.mutations.request_mutations.map(
      (m: any) => m.remove,
    );
    expect(removed.sort()).toEqual([ENDPOINT.costHeader, ENDPOINT.scopesHeader].sort());
    const set = (name: string) =>
      route(name).typed_per_filter_config[HEADER_MUTATION].mutations.request_mutations.map(
        (m: any) => m.append.header,
      );
    expect(set("admin")).toEqual([{ key: ENDPOINT.scopesHeader, value: "admin" }]);
    expect(set("render")).toEqual([{ key: ENDPOINT.costHeader, value: "20" }]);
    expect(route("default").typed_per_filter_config).toBeUndefined();
  });

  test("only /health is unchecked, and it drops the identity headers a client sent", () => {
    const unchecked = virtualHost.routes.filter((r: any) => r.typed_per_filter_config?.[EXT_AUTHZ]?.disabled);
    expect(unchecked.map((r: any) => r.name)).toEqual(["health"]);
    expect(route("health").request_headers_to_remove).toEqual(ENDPOINT.identityHeaders);
  });

  test("the scoped and costly routes ignore case, as the backend's router does", () => {
    expect(route("admin").match).toEqual({ path_separated_prefix: "/admin", case_sensitive: false });
    expect(route("render").match).toEqual({ path_separated_prefix: "/render", case_sensitive: false });
  });
});
