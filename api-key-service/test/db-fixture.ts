import { createDb, type Database } from "@gateway/db";
import { test as withServices } from "@gateway/testing";
import { CompiledQuery, type Kysely, type KyselyPlugin } from "kysely";

/** A kysely database on the test's own migrated database, for tests of repositories and services. */
export const test = withServices.extend<{ db: Kysely<Database> }>({
  db: async ({ services }, use) => {
    const db = createDb({ url: services.databaseUrl, max: 4 });
    try {
      await use(db);
    } finally {
      await db.destroy();
    }
  },
});

export { describe, expect } from "@gateway/testing";

/**
 * Key rows for bulk inserts: `select` must produce the columns below, usually from generate_series.
 * Columns left out take their defaults.
 */
export const KEY_COLUMNS =
  "id, user_id, name, key_hash, key_start, enabled, expires_at, revoked_at, created_at, updated_at, last_used_at";

/** The nodes of an `explain (format json)` plan, depth first, as "Index Scan using x on t". */
export function planNodes(plan: unknown): string[] {
  const out: string[] = [];
  const walk = (node: any) => {
    const index = node["Index Name"] ? ` using ${node["Index Name"]}` : "";
    const relation = node["Relation Name"] ? ` on ${node["Relation Name"]}` : "";
    out.push(`${node["Node Type"]}${index}${relation}`);
    for (const child of node.Plans ?? []) walk(child);
  };
  walk((plan as any)[0].Plan);
  return out;
}

/** The plan Postgres picks for exactly this compiled query, parameters included. */
export async function explain(db: Kysely<Database>, query: CompiledQuery): Promise<unknown> {
  const result = await db.executeQuery<Record<string, unknown>>(
    CompiledQuery.raw(`explain (format json) ${query.sql}`, [...query.parameters]),
  );
  return result.rows[0]?.["QUERY PLAN"];
}

/** Counts the statements a kysely instance sends, to check how many queries a call makes. */
export function countingQueries(db: Kysely<Database>): { db: Kysely<Database>; count: () => number } {
  let n = 0;
  const plugin: KyselyPlugin = {
    transformQuery: (args) => {
      n++;
      return args.node;
    },
    transformResult: async (args) => args.result,
  };
  return { db: db.withPlugin(plugin), count: () => n };
}
