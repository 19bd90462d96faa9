import { startTcpProxy, type TestServices } from "./workspace.js";

/**
 * The test's Postgres reached through a TCP proxy: start the service with `databaseUrl`, then
 * `proxy.setMode("blackhole")` makes every new connection hang, so a key's first lookup waits until
 * the check path gives up on it (the lookup pool's 500 ms connection timeout).
 */
export async function stallablePostgres(services: TestServices) {
  const url = new URL(services.databaseUrl);
  const proxy = await startTcpProxy(url.hostname, Number(url.port));
  url.hostname = "127.0.0.1";
  url.port = String(proxy.port);
  return { proxy, databaseUrl: url.toString() };
}
