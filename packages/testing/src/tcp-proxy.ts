import { connect, createServer, type Server, type Socket } from "node:net";

export type ProxyMode = "forward" | "refuse" | "blackhole";

export interface TcpProxy {
  port: number;
  /** forward: pass traffic; refuse: reset every connection (a stopped server); blackhole: accept and never answer. */
  setMode(mode: ProxyMode): void;
  /**
   * Keeps the server's answers in the proxy, on every connection, until release(): a query still
   * reaches the server and runs, but its result arrives when the test says.
   */
  holdAnswers(): void;
  releaseAnswers(): void;
  close(): Promise<void>;
}

/**
 * A TCP proxy on 127.0.0.1 in front of a real service, so a test can make Postgres or Redis
 * unreachable and bring it back without touching the shared servers.
 */
export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let mode: ProxyMode = "forward";
  const sockets = new Set<Socket>();
  /** Accepted while black-holed: never connected upstream, so reset when the proxy forwards again. */
  const stalled = new Set<Socket>();
  /** Upstream connections and the client each answers. */
  const answers = new Map<Socket, Socket>();
  let holding = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    client.on("error", () => {});
    if (mode === "refuse") {
      client.resetAndDestroy();
      return;
    }
    if (mode === "blackhole") {
      stalled.add(client);
      client.on("close", () => stalled.delete(client));
      return;
    }
    const upstream = connect(targetPort, targetHost);
    sockets.add(upstream);
    upstream.on("close", () => sockets.delete(upstream));
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
    client.pipe(upstream);
    answers.set(upstream, client);
    upstream.on("close", () => answers.delete(upstream));
    if (holding) upstream.pause();
    else upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    port,
    setMode(next) {
      mode = next;
      const cut = next === "forward" ? stalled : sockets;
      for (const s of [...cut]) s.resetAndDestroy();
    },
    holdAnswers() {
      holding = true;
      for (const [upstream, client] of answers) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    releaseAnswers() {
      holding = false;
      for (const [upstream, client] of answers) upstream.pipe(client);
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
