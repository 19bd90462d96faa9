import { runStripeSetup } from "./stripe/setup-command.js";

/**
 * pnpm stripe:setup [--check]
 * Finds the Billing meter for STRIPE_METER_EVENT_NAME and creates it as the sidecar needs it when there
 * is none; `--check` only reports. Reads STRIPE_API_KEY, STRIPE_API_BASE, STRIPE_METER_EVENT_NAME and
 * STRIPE_TIMEOUT.
 */
process.exitCode = await runStripeSetup(process.argv.slice(2), process.env, {
  log: (line) => console.log(line),
  error: (line) => console.error(line),
});
