export { fromNow } from "./clock.js";
export { migrateToLatest } from "./migrate.js";
export { migrations } from "./migrations/index.js";
export { createDb, createPool, type DbOptions } from "./pool.js";
export type * from "./schema.js";
