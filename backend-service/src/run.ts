import { type Config, ConfigError, loadConfig } from "./config.js";
import { createBackend } from "./main.js";
import { stdoutLog } from "./request-log.js";

/** The process entry point: config from the environment, then start; SIGTERM or SIGINT drains and exits. */
async function run(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`backend-service: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const backend = createBackend(config);
  try {
    await backend.start();
  } catch (err) {
    console.error(`backend-service: could not start: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  }
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    process.once(signal, () => {
      stdoutLog({ msg: "shutting down", signal });
      backend.stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    });
  }
}

await run();
