import type { Server } from "node:http";
import { createApp } from "./app.js";
import type { Config } from "./config.js";
import { type Log, stdoutLog } from "./request-log.js";

export interface Backend {
  /** Binds the port; resolves with the port actually bound (PORT=0 picks a free one). */
  start(): Promise<{ port: number }>;
  /** Stops accepting, lets in-flight requests finish for up to `shutdownTimeoutMs`, then cuts the rest. */
  stop(): Promise<void>;
}

export interface BackendOptions {
  log?: Log;
  bodyLimitBytes?: number;
  shutdownTimeoutMs?: number;
}

/** The composition root: the app and its server, nothing else to build. */
export function createBackend(config: Config, options: BackendOptions = {}): Backend {
  const log = options.log ?? stdoutLog;
  const app = createApp({
    log,
    ...(options.bodyLimitBytes === undefined ? {} : { bodyLimitBytes: options.bodyLimitBytes }),
  });
  const shutdownTimeoutMs = options.shutdownTimeoutMs ?? 10_000;
  let server: Server | undefined;

  return {
    async start() {
      const listening = app.listen(config.PORT, config.HOST);
      server = listening;
      await new Promise<void>((resolve, reject) => {
        listening.once("listening", resolve);
        listening.once("error", reject);
      });
      const address = listening.address();
      const port = typeof address === "object" && address ? address.port : config.PORT;
      log({ msg: "backend-service listening", port });
      return { port };
    },

    async stop() {
      const current = server;
      if (!current?.listening) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => current.closeAllConnections(), shutdownTimeoutMs);
        current.close(() => {
          clearTimeout(timer);
          resolve();
        });
        current.closeIdleConnections();
      });
    },
  };
}
