import { ConfigError, createLogger } from "@gateway/common";
import { type Config, loadConfig } from "./config.js";
import { createSidecar } from "./main.js";

/** The process entry point: config from the environment, then start; SIGTERM or SIGINT drains and exits. */
async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`billing-sidecar: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const logger = createLogger({ service: "billing-sidecar", level: config.LOG_LEVEL });
  const sidecar = createSidecar(config, { logger });
  process.on("unhandledRejection", (reason) => logger.error({ err: String(reason) }, "unhandled rejection"));
  try {
    await sidecar.start();
  } catch (err) {
    logger.fatal({ err: err instanceof Error ? err.message : String(err) }, "could not start");
    process.exit(1);
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      logger.info({ signal }, "shutting down");
      sidecar.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

await run();
