// What the gateway relies on in envoy.yaml, beyond its being valid: the schema test cannot tell a
// fail-open gateway from a fail-closed one.
import { describe, expect, test } from "vitest";
import {
  clusterOf,
  EXT_AUTHZ,
  endpointsOf,
  HTTP_PROTOCOL_OPTIONS,
  hcmOf,
  loadEnvoyConfig,
  placeholder,
  routesOf,
} from "./helpers/envoy-config.js";

const config = loadEnvoyConfig();
const { hcm } = hcmOf(config);
const httpFilters: any[] = hcm.http_filters;
const extAuthz = httpFilters.find((f) => f.name === EXT_AUTHZ)?.typed_config;
const routes = routesOf(config);
const perRouteAuthz = (route: any) => route.typed_per_filter_config?.[EXT_AUTHZ];
const durationSeconds = (text: string) => Number(text.replace(/s$/, ""));
const isHttp2 = (cluster: any) =>
  typeof cluster.typed_extension_protocol_options?.[HTTP_PROTOCOL_OPTIONS]?.explicit_http_config
    ?.http2_protocol_options === "object";

describe("ext_authz", () => {
  test("runs before the router, which must be the last filter", () => {
    expect(httpFilters.map((f) => f.name)).toEqual([EXT_AUTHZ, "envoy.filters.http.router"]);
  });

  test("calls api-key-service over gRPC with the v3 API and a deadline under a second", () => {
    expect(extAuthz.transport_api_version).toBe("V3");
    expect(extAuthz.grpc_service.envoy_grpc.cluster_name).toBe("api-key-service");
    const timeout = durationSeconds(extAuthz.grpc_service.timeout);
    expect(timeout).toBeGreaterThan(0);
    expect(timeout).toBeLessThanOrEqual(1);
  });

  test("fails closed with 503, not Envoy's default 403", () => {
    expect(extAuthz.failure_mode_allow).toBe(false);
    expect(extAuthz.status_on_error.code).toBe("ServiceUnavailable");
  });

  test("does not recompute the route after the check (that could skip a route's scopes)", () => {
    expect(extAuthz.clear_route_cache ?? false).toBe(false);
  });

  test("its cluster speaks HTTP/2, which gRPC needs", () => {
    expect(isHttp2(clusterOf(config, "api-key-service"))).toBe(true);
  });

  test("its cluster allows far more concurrent checks than Envoy's default 1024", () => {
    const thresholds: any[] = clusterOf(config, "api-key-service").circuit_breakers.thresholds;
    const normal = thresholds.find((t) => (t.priority ?? "DEFAULT") === "DEFAULT");
    expect(normal.max_requests).toBeGreaterThanOrEqual(10_000);
    expect(normal.max_pending_requests).toBeGreaterThanOrEqual(10_000);
  });

  test("its cluster health-checks the service name that stops serving while a replica drains", () => {
    const [check] = clusterOf(config, "api-key-service").health_checks;
    expect(check.grpc_health_check.service_name).toBe("envoy.service.auth.v3.Authorization");
  });
});

describe("routes", () => {
  const health = routes.find((r) => r.match.path === "/health");

  test("/health goes to the backend's /health without a key", () => {
    expect(health.route.cluster).toBe("backend-service");
    expect(health.route.prefix_rewrite ?? health.route.regex_rewrite).toBeUndefined();
    expect(perRouteAuthz(health)).toMatchObject({ disabled: true });
  });

  test("/health strips the identity headers nothing else overwrites there", () => {
    expect(health.request_headers_to_remove).toEqual(expect.arrayContaining(["x-api-key-id", "x-user-id"]));
  });

  test("only /health, matched exactly, skips ext_authz", () => {
    const exempt = routes.filter((r) => perRouteAuthz(r)?.disabled === true);
    expect(exempt).toEqual([health]);
    expect(Object.keys(health.match)).toEqual(["path"]);
    // Nor is it off for a whole virtual host, or off unless a route turns it on.
    for (const vh of hcm.route_config.virtual_hosts as any[])
      expect(perRouteAuthz(vh)?.disabled).toBeUndefined();
    expect(httpFilters.find((f) => f.name === EXT_AUTHZ).disabled).toBeUndefined();
  });

  test("a scoped route passes required_scopes the way the service reads them", () => {
    const scoped = routes.filter(
      (r) => perRouteAuthz(r)?.check_settings?.context_extensions?.required_scopes,
    );
    expect(scoped.length).toBeGreaterThan(0);
    for (const route of scoped) {
      const scopes = String(perRouteAuthz(route).check_settings.context_extensions.required_scopes)
        .split(/[\s,]+/)
        .filter(Boolean);
      expect(scopes.length).toBeGreaterThan(0);
      expect(perRouteAuthz(route).disabled).toBeUndefined();
    }
    const admin = scoped.find((r) => r.match.path_separated_prefix === "/admin");
    expect(perRouteAuthz(admin).check_settings.context_extensions.required_scopes).toBe("admin");
  });

  test("a costly route's cost is one the service accepts (an invalid cost refuses every request on it)", () => {
    const costly = routes.filter(
      (r) => perRouteAuthz(r)?.check_settings?.context_extensions?.cost !== undefined,
    );
    expect(costly.map((r) => r.name)).toEqual(["render"]);
    for (const route of costly) {
      const cost = perRouteAuthz(route).check_settings.context_extensions.cost;
      // A string (context_extensions is map<string, string>) of plain digits, 1 to 1,000,000.
      expect(typeof cost).toBe("string");
      expect(cost).toMatch(/^[0-9]{1,7}$/);
      expect(Number(cost)).toBeGreaterThanOrEqual(1);
      expect(Number(cost)).toBeLessThanOrEqual(1_000_000);
    }
    expect(perRouteAuthz(costly[0]).check_settings.context_extensions.cost).toBe("20");
  });

  test("scoped and costly routes match in any case, as the backend reads paths, so /ADMIN gets the scope", () => {
    const specific = routes.filter((r) => {
      const extensions = perRouteAuthz(r)?.check_settings?.context_extensions;
      return extensions?.required_scopes !== undefined || extensions?.cost !== undefined;
    });
    expect(specific.length).toBeGreaterThan(0);
    for (const route of specific) expect(route.match.case_sensitive).toBe(false);
  });

  test("everything else goes to the backend through ext_authz, after the specific routes", () => {
    const last = routes.at(-1);
    expect(last.match).toEqual({ prefix: "/" });
    expect(last.route.cluster).toBe("backend-service");
    expect(perRouteAuthz(last)).toBeUndefined();
  });

  test("every route and gRPC service names a cluster that exists", () => {
    const clusters = new Set((config.static_resources.clusters as any[]).map((c) => c.name));
    const named = [
      ...routes.map((r) => r.route.cluster),
      extAuthz.grpc_service.envoy_grpc.cluster_name,
      ...(hcm.access_log as any[]).map(
        (l) => l.typed_config.common_config.grpc_service.envoy_grpc.cluster_name,
      ),
    ];
    for (const name of named) expect(clusters).toContain(name);
  });

  test("paths are normalised before routes are matched, so /x/../admin cannot dodge the scoped route", () => {
    expect(hcm.normalize_path).toBe(true);
    expect(hcm.merge_slashes).toBe(true);
    expect(["REJECT_REQUEST", "UNESCAPE_AND_REDIRECT"]).toContain(hcm.path_with_escaped_slashes_action);
  });
});

describe("access log", () => {
  const logs: any[] = hcm.access_log;
  const grpcLog = logs.find((l) => l.name === "envoy.access_loggers.http_grpc");

  test("streams to billing-sidecar over HTTP/2 with the v3 API", () => {
    expect(grpcLog.typed_config["@type"]).toMatch(/HttpGrpcAccessLogConfig$/);
    const common = grpcLog.typed_config.common_config;
    expect(common.grpc_service.envoy_grpc.cluster_name).toBe("billing-sidecar");
    expect(common.transport_api_version).toBe("V3");
    expect(common.log_name).toMatch(/\S/);
    expect(isHttp2(clusterOf(config, "billing-sidecar"))).toBe(true);
  });

  test("batches entries", () => {
    const common = grpcLog.typed_config.common_config;
    expect(durationSeconds(common.buffer_flush_interval)).toBeGreaterThan(0);
    expect(common.buffer_size_bytes).toBeGreaterThan(0);
  });

  test("leaves out /health, and nothing else", () => {
    expect(grpcLog.filter).toEqual({
      header_filter: { header: { name: ":path", string_match: { exact: "/health" }, invert_match: true } },
    });
  });
});

describe("the edge", () => {
  test("listens on 0.0.0.0:8000 and trusts only the socket peer for the client address", () => {
    const [listener] = config.static_resources.listeners;
    expect(listener.address.socket_address).toEqual({ address: "0.0.0.0", port_value: 8000 });
    expect(hcm.use_remote_address).toBe(true);
    expect(hcm.xff_num_trusted_hops ?? 0).toBe(0);
  });

  test("replaces a client's x-request-id, which billing de-duplicates by", () => {
    expect(hcm.preserve_external_request_id ?? false).toBe(false);
  });

  test("treats only loopback as internal, so clients behind NAT cannot set x-request-id or x-envoy-*", () => {
    const ranges = (hcm.internal_address_config?.cidr_ranges ?? []) as any[];
    expect(ranges.length).toBeGreaterThan(0); // none would mean every private address
    for (const range of ranges) expect(["127.0.0.1", "::1"]).toContain(range.address_prefix);
  });

  test("binds the admin API to loopback only", () => {
    expect(["127.0.0.1", "::1"]).toContain(config.admin.address.socket_address.address);
  });

  test("names every upstream by its service DNS name", () => {
    for (const name of ["api-key-service", "billing-sidecar", "backend-service"]) {
      const cluster = clusterOf(config, name);
      expect(cluster.type).toBe("STRICT_DNS");
      expect(cluster.load_assignment.cluster_name).toBe(name);
      expect(endpointsOf(cluster).map((e) => e.host)).toEqual([name]);
    }
  });
});

describe("the data-plane token and the TLS listener (docs/SECURITY.md)", () => {
  const grpcLogService = (hcm.access_log as any[]).find((l) => l.name === "envoy.access_loggers.http_grpc")
    .typed_config.common_config.grpc_service;

  test.each([
    ["ext_authz (api-key-service)", extAuthz.grpc_service],
    ["the access log (billing-sidecar)", grpcLogService],
  ])("%s sends INTERNAL_TOKEN as x-gateway-token, filled in by envoy/start.sh", (_name, grpcService) => {
    expect(grpcService.initial_metadata).toEqual([
      { key: "x-gateway-token", value: placeholder("INTERNAL_TOKEN") },
    ]);
  });

  test("a TLS listener on 8443 serves the very filters of the plain one, with the mounted certificate", () => {
    const listeners: any[] = config.static_resources.listeners;
    expect(listeners.map((l) => l.name)).toEqual(["gateway", "gateway_tls"]);
    const tls = listeners[1];
    expect(tls.address.socket_address).toEqual({ address: "0.0.0.0", port_value: 8443 });
    expect(tls.filter_chains).toHaveLength(1);
    // The YAML alias: one set of routes, scopes, checks and access log for both listeners.
    expect(tls.filter_chains[0].filters).toBe(listeners[0].filter_chains[0].filters);
    const context = tls.filter_chains[0].transport_socket.typed_config;
    expect(context["@type"]).toBe(
      "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
    );
    expect(context.common_tls_context.tls_params.tls_minimum_protocol_version).toBe("TLSv1_2");
    expect(context.common_tls_context.tls_certificates).toEqual([
      {
        certificate_chain: { filename: `${placeholder("ENVOY_TLS_DIR")}/tls.crt` },
        private_key: { filename: `${placeholder("ENVOY_TLS_DIR")}/tls.key` },
      },
    ]);
    expect(context.require_client_certificate ?? false).toBe(false);
  });
});
