/**
 * `pnpm bench:authz --only cold-start`: a replica started under full load over many keys, with and
 * without KEY_CACHE_PREWARM. The keys are marked used ten minutes ago (as on a replica's restart in a
 * running system); each service is started, then at once sent paced checks over every key. Prints
 * the checks refused in the first second (a cold cache's lookups waiting on Postgres past
 * KEY_LOOKUP_TIMEOUT answer UNAVAILABLE) and the p99 of the seconds after it; writes no file.
 */
import { type Cleanup, log } from "@gateway/harness";
import pg from "pg";
import type { Failures } from "./generator-protocol.js";
import { runGenerator } from "./launch.js";
import type { RedisInfo } from "./redis-stats.js";
import { startBenchService } from "./setup.js";

/** Alternated, so a drift of a shared machine's speed weighs on both alike. */
const ORDER = ["0s", "24h", "0s", "24h"] as const;
const WARMUP_S = 1;
const DURATION_S = 5;
const IN_FLIGHT_CAP = 2_048;

export interface ColdStartSetup {
  repoRoot: string;
  redis: RedisInfo;
  redisUrl: string;
  databaseUrl: string;
  bodiesFile: string;
  keyPrefix: string;
  rate: number;
}

const refused = (f: Failures) => f.http + f.grpc + f.denied + f.transport + f.skipped;

export async function measureColdStart(cleanup: Cleanup, setup: ColdStartSetup): Promise<void> {
  const client = new pg.Client({ connectionString: setup.databaseUrl });
  await client.connect();
  try {
    await client.query("update api_keys set last_used_at = now() - interval '10 minutes'");
  } finally {
    await client.end();
  }
  for (const prewarm of ORDER) {
    // The service's environment is this process's, plus what startService sets.
    process.env.KEY_CACHE_PREWARM = prewarm;
    const started = performance.now();
    const service = await startBenchService(cleanup, setup.redis, setup.repoRoot, {
      databaseUrl: setup.databaseUrl,
      redisUrl: setup.redisUrl,
      keyPrefix: setup.keyPrefix,
    });
    const startS = (performance.now() - started) / 1000;
    const result = await runGenerator(
      setup.repoRoot,
      {
        port: service.grpcPort,
        bodiesFile: setup.bodiesFile,
        keys: "spread",
        mode: "paced",
        concurrency: IN_FLIGHT_CAP,
        connections: 4,
        rate: setup.rate,
        warmupS: WARMUP_S,
        durationS: DURATION_S,
      },
      { onMeasuring: async () => {}, onWindowEnd: async () => {} },
    );
    await service.stop();
    const first = result.outsideWindowFailures;
    log(
      `  KEY_CACHE_PREWARM=${prewarm}: ready in ${startS.toFixed(1)} s; first second: ${refused(first)} of ` +
        `${setup.rate} not answered OK (status not OK ${first.denied}, not sent in time ${first.skipped}); seconds 1-${WARMUP_S + DURATION_S}: ` +
        `${refused(result.failures)} not OK, p99 ${(result.latency.p99Us / 1000).toFixed(1)} ms`,
    );
  }
  delete process.env.KEY_CACHE_PREWARM;
}
