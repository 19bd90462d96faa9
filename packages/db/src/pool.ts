import { Kysely, PostgresDialect } from "kysely";
import pg from "pg";
import type { Database } from "./schema.js";

export interface DbOptions {
  url: string;
  /** Pool size. Small by default: the hot paths read caches, not Postgres. */
  max?: number;
  /**
   * Called for connection errors (a reset, Postgres restarting), idle or in use, which would otherwise
   * crash the process; the query in flight fails on its own.
   */
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
  // pg emits a connection error (a reset, Postgres restarting) on the client, in use or idle, besides
  // failing the query in flight; pg-pool listens only while the client is idle, and an error event
  // with no listener crashes the process. So every client gets one listener for its whole life, and
  // the pool's own re-emit of idle errors, reported there already, is only absorbed.
  pool.on("connect", (client) => client.on("error", (err) => options.onError?.(err)));
  pool.on("error", () => {});
  return pool;
}

export function createDb(options: DbOptions): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: createPool(options) }) });
}
