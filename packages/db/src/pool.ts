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
  /** How long to wait for a connection; short on paths that must answer quickly. */
  connectionTimeoutMs?: number;
  /** Client-side limit per query: also covers a server that stopped answering altogether. */
  queryTimeoutMs?: number;
}

export function createPool(options: DbOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.max ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 5_000,
    idleTimeoutMillis: 30_000,
    statement_timeout: options.statementTimeoutMs ?? 10_000,
    ...(options.queryTimeoutMs ? { query_timeout: options.queryTimeoutMs } : {}),
  });
  pool.on("error", (err) => options.onError?.(err));
  return pool;
}

export function createDb(options: DbOptions): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(options) }) });
}
