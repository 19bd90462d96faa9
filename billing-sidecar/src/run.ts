import { runService } from "@gateway/common";
import { loadConfig } from "./config.js";
import { createSidecar } from "./main.js";

await runService("billing-sidecar", loadConfig, (config, logger) => createSidecar(config, { logger }));
