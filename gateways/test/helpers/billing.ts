import type { TestServices } from "@gateway/testing";
import { loadConfig } from "../../../billing-sidecar/src/config.js";
import { createSidecar, type Sidecar } from "../../../billing-sidecar/src/main.js";

/** Minutes are taken from the checks once they have ended; the sidecar's clock is this far ahead. */
const CLOCK_AHEAD_MS = 2 * 60_000;

/**
 * billing-sidecar with BILLING_SOURCE=checks, as behind nginx or Caddy, against the test's database.
 * Its clock runs two minutes ahead, so the minute of a test's requests counts as settled at once and
 * the test need not wait for it to end: a minute taken early is raised to its count when it grows,
 * never billed twice (billing-sidecar/src/checks-source). e2e/stack.test.ts waits for the real minute.
 */
export async function startChecksSidecar(services: TestServices): Promise<Sidecar> {
  const config = loadConfig({
    DATABASE_URL: services.databaseUrl,
    ALS_PORT: "0",
    HTTP_PORT: "0",
    HOST: "127.0.0.1",
    BILLING_SOURCE: "checks",
    // From an hour back: the cursor would otherwise start at the minute of its (shifted) clock.
    CHECKS_BILL_FROM: new Date(Date.now() - 3_600_000).toISOString(),
    CHECKS_POLL_INTERVAL: "1s",
    // Its start-up warnings (no Stripe key) are expected here.
    LOG_LEVEL: "error",
  });
  const sidecar = createSidecar(config, { now: () => Date.now() + CLOCK_AHEAD_MS });
  await sidecar.start();
  return sidecar;
}
