import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, test } from "./fixtures.js";

const entry = fileURLToPath(new URL("../src/run.ts", import.meta.url));

function startProcess(env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", entry], {
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  return { child, output: () => output, exited };
}

async function listening(proc: ReturnType<typeof startProcess>): Promise<number> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const port = /"als_port":(\d+)/.exec(proc.output())?.[1];
    if (port) return Number(port);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`sidecar did not start:\n${proc.output()}`);
}

describe("the sidecar killed with SIGKILL mid-stream", () => {
  test("loses at most the unflushed interval and never counts twice", async ({ services }) => {
    const env = {
      DATABASE_URL: services.databaseUrl,
      ALS_PORT: "0",
      HTTP_PORT: "0",
      HOST: "127.0.0.1",
      USAGE_FLUSH_INTERVAL: "500ms",
    };
    const pool = new pg.Pool({ connectionString: services.databaseUrl, max: 1 });
    pool.on("error", () => {});
    const total = async () =>
      Number((await pool.query("select coalesce(sum(requests), 0)::int as n from usage_minutes")).rows[0].n);
    const first = startProcess(env);
    let sent = 0;
    try {
      const stream = envoyAlsStream(await listening(first));
      // Stream steadily for about two seconds, then kill the sidecar with no chance to flush.
      const started = Date.now();
      while (Date.now() - started < 2_000) {
        stream.send(
          Array.from({ length: 50 }, () => httpEntry({ keyId: "key_k", userId: "kim", code: 200 })),
        );
        sent += 50;
        await new Promise((r) => setTimeout(r, 20));
      }
      first.child.kill("SIGKILL");
      await first.exited;
      stream.close();
      const survived = await total();
      const lost = sent - survived;
      console.info(`sent ${sent} entries, ${survived} were written before SIGKILL, ${lost} lost`);
      expect(survived).toBeGreaterThan(0);
      expect(survived).toBeLessThanOrEqual(sent);
      // At 50 entries per 20 ms, one 500 ms flush interval holds about 1,250 entries.
      expect(lost).toBeLessThan(1_250 * 2);

      // A new sidecar takes over; its batches add to what survived, never repeat it.
      const second = startProcess(env);
      try {
        const again = envoyAlsStream(await listening(second));
        again.send(
          Array.from({ length: 100 }, () => httpEntry({ keyId: "key_k", userId: "kim", code: 200 })),
        );
        await expect.poll(total, { timeout: 5_000 }).toBe(survived + 100);
        again.cancel();
        again.close();
      } finally {
        second.child.kill("SIGTERM");
        await second.exited;
      }
    } finally {
      first.child.kill("SIGKILL");
      await pool.end();
    }
  });
});
