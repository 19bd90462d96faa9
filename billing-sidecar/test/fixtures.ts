import { Writable } from "node:stream";
import { createLogger } from "@gateway/common";
import { type TestServices, test as withServices } from "@gateway/testing";
import pg from "pg";
import { loadConfig } from "../src/config.js";
import { createSidecar, type Sidecar } from "../src/main.js";
import type { MeterClient } from "../src/stripe/meter-client.js";

export interface RunningSidecar extends Sidecar {
  alsPort: number;
  httpPort: number;
  logs: string[];
  query(text: string, values?: unknown[]): Promise<any[]>;
  metricsText(): Promise<string>;
  close(): Promise<void>;
}

/** A billing sidecar on free ports against the test's own database. */
export async function startSidecar(
  services: TestServices,
  env: Record<string, string> = {},
  meterClient?: MeterClient,
): Promise<RunningSidecar> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const config = loadConfig({
    DATABASE_URL: services.databaseUrl,
    ALS_PORT: "0",
    HTTP_PORT: "0",
    HOST: "127.0.0.1",
    USAGE_FLUSH_INTERVAL: "100ms",
    STRIPE_SEND_INTERVAL: "1h", // tests run passes themselves with sendToStripe()
    ...env,
  });
  const sidecar = createSidecar(config, {
    logger: createLogger({ service: "billing-sidecar", level: config.LOG_LEVEL, destination }),
    ...(meterClient ? { meterClient } : {}),
  });
  const { alsPort, httpPort } = await sidecar.start();
  const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 2 });
  // The test database is dropped with FORCE afterwards; a connection still closing must not crash the run.
  pool.on("error", () => {});
  return {
    ...sidecar,
    alsPort,
    httpPort,
    logs,
    query: async (text, values = []) => (await pool.query(text, values)).rows,
    metricsText: async () => (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text(),
    async close() {
      await sidecar.stop();
      await pool.end();
    },
  };
}

export const test = withServices.extend<{ sidecar: RunningSidecar }>({
  sidecar: async ({ services }, use) => {
    const sidecar = await startSidecar(services);
    try {
      await use(sidecar);
    } finally {
      await sidecar.close();
    }
  },
});

export { describe, expect } from "@gateway/testing";

/** The value of one sample line of a Prometheus metric, 0 when absent. */
export function sample(metrics: string, line: string): number {
  const found = metrics.split("\n").find((l) => l.startsWith(`${line} `));
  return found ? Number(found.split(" ").at(-1)) : 0;
}
