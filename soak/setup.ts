/**
 * Everything the soak runs against, built from the benchmarks' pieces: a fresh database seeded with
 * keys, api-key-service, the Stripe emulator and billing-sidecar. Each step registers its undo.
 */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  checkRequestFor,
  createBenchDatabase,
  describeProbe,
  dropBenchDatabase,
  encodeCheckRequest,
  isAllowed,
  migrateBenchDatabase,
  probeCheck,
  type RedisInfo,
  type ServiceTarget,
  seedKeys,
  startService,
  writeBodies,
} from "@gateway/bench/authz";
import { BenchPostgres, type SidecarProcess, startSidecar } from "@gateway/bench/billing";
import { type Cleanup, log } from "@gateway/harness";
import { type StripeEmulator, startStripeEmulator } from "@gateway/testing/stripe-emulator";
import type { SoakOptions } from "./options.js";

const KEY_PREFIX = "gw";
const METER_EVENT_NAME = "api_requests";

export interface Stack {
  service: ServiceTarget;
  sidecar: SidecarProcess;
  emulator: StripeEmulator;
  /** Length-prefixed Check frames, one per seeded key (see bench/authz/check-request.ts). */
  bodiesFile: string;
  /** For the soak's own reads; the sampler gets its own connection. */
  databaseUrl: string;
  db: BenchPostgres;
  seedS: number;
}

export async function startStack(
  repoRoot: string,
  options: SoakOptions,
  redis: RedisInfo,
  cleanup: Cleanup,
): Promise<Stack> {
  log(`creating a database with ${options.keys.toLocaleString("en-US")} keys…`);
  const seedStart = performance.now();
  const database = await createBenchDatabase(options.pgUrl);
  cleanup.add(`drop database ${database.name}`, () => dropBenchDatabase(options.pgUrl, database.name));
  await migrateBenchDatabase(database.url);
  const keys = await seedKeys(database.url, options.keys, KEY_PREFIX);
  const frames = keys.map((key, i) => encodeCheckRequest(checkRequestFor(key, i)));
  const dir = mkdtempSync(join(tmpdir(), "soak-"));
  cleanup.add("remove the request bodies", () => rmSync(dir, { recursive: true, force: true }));
  const bodiesFile = join(dir, "bodies.bin");
  writeBodies(bodiesFile, frames);
  const seedS = (performance.now() - seedStart) / 1000;
  log(`  ${database.name}: seeded in ${seedS.toFixed(1)} s`);

  log("starting api-key-service…");
  const service = await startService(repoRoot, {
    databaseUrl: database.url,
    redisUrl: options.redisUrl,
    keyPrefix: KEY_PREFIX,
  });
  cleanup.add("delete the run's Redis keys", () => redis.deleteKeys(service.redisKeyPrefix));
  cleanup.add("stop api-key-service", () => service.stop());
  const probe = await probeCheck(service.grpcPort, frames[0] as Buffer);
  if (!isAllowed(probe)) throw new Error(`a seeded key was not allowed: ${describeProbe(probe)}`);
  log(`  pid ${service.pid}, http ${service.httpPort}, grpc ${service.grpcPort}`);

  const emulator = await startStripeEmulator({ meters: [{ eventName: METER_EVENT_NAME }] });
  cleanup.add("stop the Stripe emulator", () => emulator.close());
  log(`starting billing-sidecar (Stripe emulator at ${emulator.url})…`);
  const sidecar = await startSidecar(repoRoot, {
    databaseUrl: database.url,
    stripe: { apiKey: emulator.apiKey, apiBase: emulator.url, mode: "v1" },
  });
  cleanup.add("stop billing-sidecar", () => sidecar.stop());
  if (sidecar.config.STRIPE_METER_EVENT_NAME !== METER_EVENT_NAME) {
    throw new Error(`STRIPE_METER_EVENT_NAME is set to ${sidecar.config.STRIPE_METER_EVENT_NAME}; unset it`);
  }
  log(`  pid ${sidecar.pid}, access log ${sidecar.alsPort}, http ${sidecar.httpPort}`);

  const db = await BenchPostgres.connect(database.url);
  cleanup.add("close the Postgres connection", () => db.close());
  return { service, sidecar, emulator, bodiesFile, databaseUrl: database.url, db, seedS };
}
