/**
 * The steps every benchmark of api-key-service starts with, each registering its undo: Redis
 * statistics and a description of the machine, a fresh database seeded with keys, the service.
 */
import { performance } from "node:perf_hooks";
import { BUSY_WARNING, type Cleanup, describeMachine, log, type MachineInfo } from "@gateway/harness";
import { postgresVersion } from "../billing/postgres.js";
import { createBenchDatabase, dropBenchDatabase, migrateBenchDatabase, seedKeys } from "./database.js";
import { RedisInfo } from "./redis-stats.js";
import { type ServiceEnvironment, type ServiceTarget, startService } from "./service.js";

/** A connection for Redis statistics, and the machine as the report describes it (warning when busy). */
export async function connectAndDescribe(
  cleanup: Cleanup,
  urls: { pgUrl: string; redisUrl: string },
): Promise<{ redis: RedisInfo; machine: MachineInfo }> {
  const redisUrl = new URL(urls.redisUrl);
  const redis = await RedisInfo.connect(redisUrl.hostname, Number(redisUrl.port || 6379));
  cleanup.add("close the Redis stats connection", () => redis.close());
  const machine = await describeMachine(await postgresVersion(urls.pgUrl), await redis.version());
  if (machine.busyBefore > BUSY_WARNING) {
    log(
      `warning: other processes were using ${machine.busyBefore.toFixed(2)} of ${machine.cpus} cores before the start; ` +
        "expect noisy figures",
    );
  }
  return { redis, machine };
}

/** A fresh database, migrated and seeded with `count` keys, dropped at cleanup. */
export async function seedBenchDatabase(
  cleanup: Cleanup,
  pgUrl: string,
  count: number,
  keyPrefix: string,
): Promise<{ name: string; url: string; keys: string[]; seedS: number }> {
  log(`creating and seeding a bench database with ${count} keys…`);
  const seedStart = performance.now();
  const database = await createBenchDatabase(pgUrl);
  cleanup.add(`drop database ${database.name}`, () => dropBenchDatabase(pgUrl, database.name));
  await migrateBenchDatabase(database.url);
  const keys = await seedKeys(database.url, count, keyPrefix);
  const seedS = (performance.now() - seedStart) / 1000;
  log(`  ${database.name}: ${keys.length} keys in ${seedS.toFixed(1)} s`);
  return { ...database, keys, seedS };
}

/** api-key-service, stopped at cleanup before the Redis keys it wrote are deleted. */
export async function startBenchService(
  cleanup: Cleanup,
  redis: RedisInfo,
  repoRoot: string,
  env: ServiceEnvironment,
): Promise<ServiceTarget> {
  log("starting api-key-service…");
  const service = await startService(repoRoot, env);
  // Undone newest first: the service stops before its keys are deleted, so it cannot write more.
  cleanup.add("delete the run's Redis keys", async () => {
    const n = await redis.deleteKeys(service.redisKeyPrefix);
    log(`deleted ${n} Redis keys under ${service.redisKeyPrefix}`);
  });
  cleanup.add("stop api-key-service", () => service.stop());
  return service;
}
