import { ConfigError } from "./config.js";
import { createLogger, type Logger } from "./logger.js";

export interface Runnable {
  start(): Promise<unknown>;
  stop(): Promise<void>;
}

/**
 * A service's process entry point: configuration from the environment (a bad value exits 1 with a
 * message naming the variable, before any port is bound), then start; SIGTERM or SIGINT drains and
 * exits 0. An unhandled rejection is logged, never left to crash the process.
 */
export async function runService<C extends { LOG_LEVEL: string }>(
  name: string,
  load: () => C,
  create: (config: C, logger: Logger) => Runnable,
): Promise<void> {
  let config: C;
  try {
    config = load();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${name}: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ service: name, level: config.LOG_LEVEL });
  const service = create(config, logger);
  process.on("unhandledRejection", (reason) => logger.error({ err: String(reason) }, "unhandled rejection"));
  try {
    await service.start();
  } catch (err) {
    logger.fatal({ err: err instanceof Error ? err.message : String(err) }, "could not start");
    await service.stop().catch(() => {});
    process.exit(1);
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      logger.info({ signal }, "shutting down");
      service.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}
