import { existsSync } from "node:fs";

export interface ServiceUrls {
  databaseUrl: string;
  redisUrl: string;
  stop: () => Promise<void>;
}

const LOCAL_DATABASE = "postgres://postgres@127.0.0.1:5432/test";
const LOCAL_REDIS = "redis://127.0.0.1:6379";

/**
 * Where the tests find Postgres and Redis: TEST_DATABASE_URL / TEST_REDIS_URL when set; otherwise
 * throwaway containers when a Docker host is reachable; otherwise the local services.
 */
export async function resolveServices(env: NodeJS.ProcessEnv = process.env): Promise<ServiceUrls> {
  if (env.TEST_DATABASE_URL || env.TEST_REDIS_URL || !dockerHostLikely(env)) {
    return {
      databaseUrl: env.TEST_DATABASE_URL ?? LOCAL_DATABASE,
      redisUrl: env.TEST_REDIS_URL ?? LOCAL_REDIS,
      stop: async () => {},
    };
  }
  const containers = await startContainers().catch(() => null);
  return containers ?? { databaseUrl: LOCAL_DATABASE, redisUrl: LOCAL_REDIS, stop: async () => {} };
}

function dockerHostLikely(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.DOCKER_HOST) || existsSync("/var/run/docker.sock");
}

async function startContainers(): Promise<ServiceUrls> {
  const { GenericContainer, Wait } = await import("testcontainers");
  const [postgres, redis] = await Promise.all([
    new GenericContainer("postgres:16-alpine")
      .withEnvironment({ POSTGRES_HOST_AUTH_METHOD: "trust", POSTGRES_DB: "test" })
      .withExposedPorts(5432)
      .withWaitStrategy(Wait.forLogMessage(/database system is ready to accept connections/, 2))
      .start(),
    new GenericContainer("redis:7-alpine").withExposedPorts(6379).start(),
  ]);
  return {
    databaseUrl: `postgres://postgres@${postgres.getHost()}:${postgres.getMappedPort(5432)}/test`,
    redisUrl: `redis://${redis.getHost()}:${redis.getMappedPort(6379)}`,
    stop: async () => {
      await Promise.all([postgres.stop(), redis.stop()]);
    },
  };
}
