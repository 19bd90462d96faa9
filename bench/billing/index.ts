/**
 * What the billing benchmark offers other load tools (the soak): the sidecar as a measured
 * process, the access-log generator, the bench Postgres and ingest lag.
 */
export type { AlsGeneratorResult } from "./generator-protocol.js";
export { lagAt } from "./lag.js";
export { startGenerator } from "./launch.js";
export { BenchPostgres, postgresVersion } from "./postgres.js";
export { type SidecarProcess, startSidecar } from "./sidecar.js";
