import { runService } from "@gateway/common";
import { loadConfig } from "./config.js";
import { createService } from "./main.js";

await runService("api-key-service", loadConfig, (config, logger) => createService(config, { logger }));
