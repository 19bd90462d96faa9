import { createDb } from "@gateway/db";
import { loadConfig } from "./config.js";
import { createStripe } from "./stripe/meter-client.js";
import { reconcile } from "./stripe/reconcile.js";

/**
 * pnpm billing:reconcile --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z
 * Prints, per customer and hour, the units delivered beside the units Stripe's summaries hold; exits 1
 * on any difference. Reads DATABASE_URL, STRIPE_API_KEY, STRIPE_API_BASE and STRIPE_METER_EVENT_NAME.
 */
function argument(name: string): Date {
  const index = process.argv.indexOf(`--${name}`);
  const text = index >= 0 ? process.argv[index + 1] : undefined;
  const date = text ? new Date(text) : new Date(Number.NaN);
  if (Number.isNaN(date.getTime()) || date.getTime() % 3_600_000 !== 0) {
    console.error(`--${name} must be a whole hour in ISO 8601, such as 2026-11-01T00:00:00Z`);
    process.exit(2);
  }
  return date;
}

const config = loadConfig();
if (!config.STRIPE_API_KEY) {
  console.error("STRIPE_API_KEY is required to read Stripe's meter event summaries");
  process.exit(2);
}
const from = argument("from");
const to = argument("to");
const stripe = createStripe(config.STRIPE_API_KEY, config.STRIPE_API_BASE);
const db = createDb({ url: config.DATABASE_URL, max: 1 });
try {
  const report = await reconcile(db, stripe, config.STRIPE_METER_EVENT_NAME, from, to);
  console.log(["customer", "hour", "sent", "stripe", "difference"].join("\t"));
  for (const r of report.rows) console.log([r.customer, r.hour, r.sent, r.stripe, r.difference].join("\t"));
  console.log(
    `${report.rows.length} customer-hours compared, ${report.mismatches} differ (meter ${report.meterId})`,
  );
  process.exitCode = report.mismatches === 0 ? 0 : 1;
} catch (err) {
  console.error((err as Error).message);
  process.exitCode = 2;
} finally {
  await db.destroy();
}
