import { parse } from "yaml";
import { readRepoFile } from "./repo.js";

export const EXT_AUTHZ = "envoy.filters.http.ext_authz";
export const HCM = "envoy.filters.network.http_connection_manager";
export const HTTP_PROTOCOL_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** `${text}`, as envoy.yaml's placeholders and start.sh's shell expansions are written. */
export const placeholder = (text: string) => `\${${text}}`;

/** The shipped Envoy config, parsed; loosely typed, as the schema test checks its shape. */
export function loadEnvoyConfig(file = "envoy/envoy.yaml"): any {
  return parse(readRepoFile(file));
}

/** The HTTP connection manager and the path to it, for assertions and for messages that name it. */
export function hcmOf(config: any): { hcm: any; path: string } {
  const listeners: any[] = config.static_resources.listeners;
  for (const [l, listener] of listeners.entries()) {
    for (const [c, chain] of (listener.filter_chains as any[]).entries()) {
      for (const [f, filter] of (chain.filters as any[]).entries()) {
        if (filter.name === HCM) {
          return {
            hcm: filter.typed_config,
            path: `static_resources.listeners[${l}].filter_chains[${c}].filters[${f}].typed_config`,
          };
        }
      }
    }
  }
  throw new Error("no http_connection_manager in the config");
}

export function httpFilterIndex(config: any, name: string): number {
  const index = (hcmOf(config).hcm.http_filters as any[]).findIndex((f) => f.name === name);
  if (index < 0) throw new Error(`no HTTP filter ${name}`);
  return index;
}

export function routesOf(config: any): any[] {
  return (hcmOf(config).hcm.route_config.virtual_hosts as any[]).flatMap((vh) => vh.routes);
}

export function clusterIndex(config: any, name: string): number {
  const index = (config.static_resources.clusters as any[]).findIndex((c) => c.name === name);
  if (index < 0) throw new Error(`no cluster ${name}`);
  return index;
}

export function clusterOf(config: any, name: string): any {
  return config.static_resources.clusters[clusterIndex(config, name)];
}

/** Every upstream address of a cluster, as host and port. */
export function endpointsOf(cluster: any): { host: string; port: number }[] {
  return (cluster.load_assignment.endpoints as any[])
    .flatMap((e) => e.lb_endpoints as any[])
    .map((e) => e.endpoint.address.socket_address)
    .map((a) => ({ host: a.address, port: a.port_value }));
}
