import { migrateToLatest } from "./migrate.js";
import { createDb } from "./pool.js";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is required, e.g. postgres://postgres@127.0.0.1:5432/test");
  process.exit(1);
}
const db = createDb({ url, max: 1 });
try {
  const results = await migrateToLatest(db);
  for (const r of results) console.log(`${r.status.toLowerCase()}: ${r.migrationName}`);
  console.log(results.length === 0 ? "database is up to date" : `applied ${results.length} migration(s)`);
} catch (err) {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
