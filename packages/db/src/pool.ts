import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.js";

export interface DbOptions {
  url: string;
  /** Pool size. Small by default: the hot paths read caches, not Postgres. */
  max?: number;
  /** Called for errors on idle clients, which would otherwise crash the process. */
  onError?: (err: Error) => void;
  statementTimeoutMs?: number;
}

export function createPool(options: DbOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
  });
  pool.on("error", (err) => options.onError?.(err));
  return pool;
}

export function createDb(options: DbOptions): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(options) }) });
}
