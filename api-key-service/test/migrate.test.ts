import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { migrations } from "@gateway/db";
import { createTestDatabase } from "@gateway/testing";
import pg from "pg";
import { describe, expect, inject, test } from "vitest";

const run = promisify(execFile);
const cli = fileURLToPath(new URL("../../packages/db/src/migrate-cli.ts", import.meta.url));

describe("pnpm migrate", () => {
  test("migrates an empty database, then reports it up to date", async () => {
    const database = await createTestDatabase(inject("databaseUrl"), "template0");
    try {
      const env = { PATH: process.env.PATH ?? "", DATABASE_URL: database.url };
      const first = await run(process.execPath, ["--import", "tsx", cli], { env });
      for (const name of Object.keys(migrations)) expect(first.stdout).toContain(`success: ${name}`);
      const second = await run(process.execPath, ["--import", "tsx", cli], { env });
      expect(second.stdout).toContain("database is up to date");

      const client = new pg.Client({ connectionString: database.url });
      await client.connect();
      const { rows } = await client.query(
        "select table_name from information_schema.tables where table_schema = 'public' order by 1",
      );
      await client.end();
      expect(rows.map((r) => r.table_name)).toEqual(
        expect.arrayContaining(["api_keys", "audit_events", "users", "kysely_migration"]),
      );
    } finally {
      await database.drop();
    }
  });

  test("migration names are timestamp-prefixed and in order", () => {
    const names = Object.keys(migrations);
    for (const name of names) expect(name).toMatch(/^\d{8}T\d{6}_[a-z0-9_]+$/);
    expect([...names].sort()).toEqual(names);
  });

  test("without DATABASE_URL it says what to set and exits non-zero", async () => {
    const failure = await run(process.execPath, ["--import", "tsx", cli], {
      env: { PATH: process.env.PATH ?? "" },
    }).catch((err) => err);
    expect(failure.code).toBe(1);
    expect(failure.stderr).toContain("DATABASE_URL is required");
  });
});
