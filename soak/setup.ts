/**
 * Everything the soak runs against, built from the benchmarks' pieces: a fresh database seeded with
 * keys, api-key-service, the Stripe emulator and billing-sidecar. Each step registers its undo.
 */

import { join } from "node:path";
import {
  checkRequestFor,
  describeProbe,
  encodeCheckRequest,
  isAllowed,
  probeCheck,
  type RedisInfo,
  type ServiceTarget,
  seedBenchDatabase,
  startBenchService,
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
  const database = await seedBenchDatabase(cleanup, options.pgUrl, options.keys, KEY_PREFIX);
  const { keys, seedS } = database;
  const frames = keys.map((key, i) => encodeCheckRequest(checkRequestFor(key, i)));
  const bodiesFile = join(cleanup.tempDir("soak-"), "bodies.bin");
  writeBodies(bodiesFile, frames);
  const service = await startBenchService(cleanup, redis, repoRoot, {
    databaseUrl: database.url,
    redisUrl: options.redisUrl,
    keyPrefix: KEY_PREFIX,
  });
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
