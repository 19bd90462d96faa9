import pg from "pg";

/** One connection to the bench database, for the benchmark's own reads (never the sidecar's pool). */
export class BenchPostgres {
  private constructor(private readonly client: pg.Client) {}

  static async connect(url: string): Promise<BenchPostgres> {
    const client = new pg.Client({ connectionString: url });
    // The bench database is dropped with FORCE at the end; a connection still open must not crash the run.
    client.on("error", () => {});
    await client.connect();
    return new BenchPostgres(client);
  }

  /** Every request the sidecar has written so far. */
  async totalRequests(): Promise<number> {
    const { rows } = await this.client.query<{ n: string }>(
      "select coalesce(sum(requests), 0)::bigint as n from usage_minutes",
    );
    return Number(rows[0]?.n ?? 0);
  }

  async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.client.query<R>(text, values)).rows;
  }

  async close(): Promise<void> {
    await this.client.end();
  }
}

export async function postgresVersion(url: string): Promise<string> {
  const db = await BenchPostgres.connect(url);
  try {
    return (
      (await db.query<{ server_version: string }>("show server_version"))[0]?.server_version ?? "unknown"
    );
  } finally {
    await db.close();
  }
}
