import { existsSync, readdirSync, readFileSync } from "node:fs";
import { chown, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, type ManagedProcess, startProcess } from "@gateway/harness";
import pg from "pg";

export interface PostgresServer {
  port: number;
  /** `postgres://postgres@127.0.0.1:<port>/<database>`: the same across restarts. */
  url: string;
  readonly running: boolean;
  /** Starts it again on the same port with the data kept; resolves once it accepts queries. */
  start(): Promise<void>;
  /** fast: as `pg_ctl stop -m fast` (SIGINT); immediate: as `-m immediate` (SIGQUIT), a crash-like stop. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

export interface PostgresServerOptions {
  /** Where initdb and postgres are. Default: $PG_BIN, else the newest /usr/lib/postgresql/<n>/bin, else PATH. */
  binDir?: string;
  /** The database created for `url`. Default `gw_faults`. */
  database?: string;
  startTimeoutMs?: number;
}

const STOP_SIGNAL = { fast: "SIGINT", immediate: "SIGQUIT" } as const;

/**
 * A private PostgreSQL, for a test that stops and restarts Postgres (never the shared one): initdb into
 * a fresh temporary folder, trust authentication, listening on 127.0.0.1 and a socket in that folder
 * only. As root it runs as the `postgres` user, since postgres refuses to run as root. Tuned for
 * throwaway data (no fsync).
 */
export async function startPostgresServer(options: PostgresServerOptions = {}): Promise<PostgresServer> {
  const binDir = options.binDir ?? process.env.PG_BIN ?? debianBinDir();
  const bin = (name: string) => (binDir ? join(binDir, name) : name);
  const database = options.database ?? "gw_faults";
  const startTimeoutMs = options.startTimeoutMs ?? 30_000;
  const missing =
    "install Debian's postgresql package (postgresql-15 puts the binaries in /usr/lib/postgresql/15/bin), or set PG_BIN";
  const owner = process.getuid?.() === 0 ? postgresUser() : undefined;

  const dir = await mkdtemp(join(tmpdir(), "gw-pg-"));
  if (owner) await chown(dir, owner.uid, owner.gid);
  const dataDir = join(dir, "data");
  const spawnOptions = { cwd: dir, missing, ...(owner ?? {}) };
  const port = await freePort();
  const adminUrl = `postgres://postgres@127.0.0.1:${port}/postgres`;
  let server: ManagedProcess | null = null;

  const start = async () => {
    if (server) throw new Error(`postgres on port ${port} is already running`);
    const args = ["-D", dataDir, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1"];
    for (const setting of ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]) {
      args.push("-c", setting);
    }
    // If the test process dies first, SIGQUIT: the postmaster takes its backends down with it.
    const postgres = startProcess({
      name: `postgres on port ${port}`,
      command: bin("postgres"),
      args,
      ...spawnOptions,
      exitSignal: "SIGQUIT",
    });
    await postgres.waitUntilReady(() => answersQuery(adminUrl), startTimeoutMs);
    server = postgres;
  };

  const stop = async (mode: "fast" | "immediate" = "fast") => {
    if (!server) return;
    await server.stop(STOP_SIGNAL[mode], 10_000);
    server = null;
  };

  try {
    const initdb = startProcess({
      name: "initdb",
      command: bin("initdb"),
      args: ["-D", dataDir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
      ...spawnOptions,
    });
    const { code } = await initdb.exited;
    if (code !== 0) throw new Error(`initdb into ${dataDir} failed:\n${initdb.output()}`);
    await start();
    await query(adminUrl, `CREATE DATABASE ${database}`);
  } catch (err) {
    await stop("immediate");
    await rm(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/${database}`,
    get running() {
      return server !== null;
    },
    start,
    stop,
    async destroy() {
      await stop("immediate");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Debian installs each major version under /usr/lib/postgresql/<n>/bin, off PATH. */
function debianBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : undefined;
}

function postgresUser(): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith("postgres:"));
  const [, , uid, gid] = line?.split(":") ?? [];
  if (!uid || !gid) {
    throw new Error(
      "postgres refuses to run as root and there is no postgres user: install Debian's postgresql package, which creates it",
    );
  }
  return { uid: Number(uid), gid: Number(gid) };
}

async function query(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query(text);
  } finally {
    await client.end().catch(() => {});
  }
}

function answersQuery(url: string): Promise<boolean> {
  return query(url, "select 1").then(
    () => true,
    () => false,
  );
}
