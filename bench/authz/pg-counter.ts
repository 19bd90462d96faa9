/**
 * Counts the statements the service sends to Postgres by standing between them: a TCP relay on
 * 127.0.0.1 that reads the client half of the wire protocol. pg_stat_statements is not loaded on the
 * shared server (it needs a restart), and pg_stat_database lags by up to the stats flush interval
 * (PGSTAT_IDLE_INTERVAL, 10 s), which would smear counts across runs; the relay's counters are exact
 * at any instant. In steady state the service should send nothing, so the relay costs nothing then.
 */
import net from "node:net";

// Startup-phase request codes (no type byte): these keep the connection in the startup phase.
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

export interface PgCounts {
  /** Statements run, simple ('Q') or extended ('E'), by kind: "select api_keys", "insert authz_counts"… */
  statements: Record<string, number>;
  /** Client connections opened through the relay. */
  connections: number;
}

export function totalStatements(counts: PgCounts): number {
  return Object.values(counts.statements).reduce((a, b) => a + b, 0);
}

export function pgDelta(a: PgCounts, b: PgCounts): PgCounts {
  const statements: Record<string, number> = {};
  for (const [kind, n] of Object.entries(b.statements)) {
    const d = n - (a.statements[kind] ?? 0);
    if (d > 0) statements[kind] = d;
  }
  return { statements, connections: b.connections - a.connections };
}

/** "select api_keys", "insert authz_counts", "select" (no table), "begin"… from the SQL text. */
export function statementKind(sql: string): string {
  const text = sql.replace(/\s+/g, " ").trim().toLowerCase();
  const verb = /^\(?\s*(\w+)/.exec(text)?.[1] ?? "?";
  const table = /\b(?:from|into|update)\s+"?([a-z_][a-z0-9_]*)"?/.exec(text)?.[1];
  return table ? `${verb} ${table}` : verb;
}

/** The bytes of a message body kept for parsing: enough for names and the start of the SQL. */
const KEEP = 1_024;

function cstring(buf: Buffer, at: number): [text: string, next: number] {
  const end = buf.indexOf(0, at);
  if (end < 0) return [buf.toString("utf8", at), buf.length];
  return [buf.toString("utf8", at, end), end + 1];
}

export class PgStatementCounter {
  private readonly counts: PgCounts = { statements: {}, connections: 0 };
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;

  constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {}

  snapshot(): PgCounts {
    return { statements: { ...this.counts.statements }, connections: this.counts.connections };
  }

  listen(): Promise<number> {
    const server = net.createServer((client) => this.relay(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const address = server.address();
        resolve(typeof address === "object" && address ? address.port : 0);
      });
    });
  }

  close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private relay(client: net.Socket): void {
    this.counts.connections++;
    const upstream = net.connect({ host: this.upstreamHost, port: this.upstreamPort });
    for (const socket of [client, upstream]) {
      this.sockets.add(socket);
      socket.setNoDelay(true);
      socket.on("close", () => this.sockets.delete(socket));
    }
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("data", this.parser());
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private count(kind: string): void {
    this.counts.statements[kind] = (this.counts.statements[kind] ?? 0) + 1;
  }

  /**
   * A streaming parser of one connection's client messages. Parse ('P') names a statement's SQL,
   * Bind ('B') ties a portal to a statement, Execute ('E') runs a portal: following those names
   * attributes each execution to its SQL even when a prepared statement is reused.
   */
  private parser(): (chunk: Buffer) => void {
    const statements = new Map<string, string>();
    const portals = new Map<string, string>();
    let startup = true;
    const header = Buffer.alloc(8);
    let have = 0;
    let type = "";
    let remaining = 0;
    let body: Buffer[] = [];
    let kept = 0;

    const onMessage = (data: Buffer) => {
      if (type === "Q") {
        this.count(statementKind(cstring(data, 0)[0]));
      } else if (type === "P") {
        const [name, next] = cstring(data, 0);
        statements.set(name, statementKind(cstring(data, next)[0]));
      } else if (type === "B") {
        const [portal, next] = cstring(data, 0);
        portals.set(portal, statements.get(cstring(data, next)[0]) ?? "?");
      } else if (type === "E") {
        this.count(portals.get(cstring(data, 0)[0]) ?? "?");
      }
    };

    return (chunk) => {
      let i = 0;
      while (i < chunk.length) {
        if (remaining > 0) {
          const n = Math.min(remaining, chunk.length - i);
          if (kept < KEEP) {
            const take = Math.min(n, KEEP - kept);
            body.push(chunk.subarray(i, i + take));
            kept += take;
          }
          remaining -= n;
          i += n;
          if (remaining === 0) {
            onMessage(Buffer.concat(body));
            body = [];
            kept = 0;
          }
          continue;
        }
        // Startup messages are length + code (8 bytes, no type); later ones are type + length (5).
        const need = startup ? 8 : 5;
        while (have < need && i < chunk.length) header[have++] = chunk[i++] ?? 0;
        if (have < need) return;
        have = 0;
        if (startup) {
          const code = header.readInt32BE(4);
          remaining = header.readInt32BE(0) - 8;
          type = "";
          if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
        } else {
          type = String.fromCharCode(header[0] ?? 0);
          remaining = header.readInt32BE(1) - 4;
        }
        if (remaining === 0) onMessage(Buffer.alloc(0));
      }
    };
  }
}
