import { ConfigError } from "@gateway/common";
import Stripe from "stripe";
import { loadStripeAccountConfig } from "../config.js";
import { createStripe, METER_PAYLOAD_KEYS } from "./meter-client.js";
import { type MeterSetup, setUpMeter } from "./meter-setup.js";

export interface Output {
  log(line: string): void;
  error(line: string): void;
}

const USAGE = "usage: pnpm stripe:setup [--check]";

/**
 * `pnpm stripe:setup [--check]`: the Billing meter the sidecar's events need, found or created.
 * Exit codes: 0 the meter is set up (or was just created), 1 it is missing (`--check`) or differs,
 * 2 the command could not ask Stripe (configuration, Stripe unreachable, the key refused).
 */
export async function runStripeSetup(
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  out: Output,
): Promise<number> {
  const unknown = args.find((a) => a !== "--check");
  if (unknown !== undefined) {
    out.error(`unknown argument ${unknown}\n${USAGE}`);
    return 2;
  }
  let config: ReturnType<typeof loadStripeAccountConfig>;
  try {
    config = loadStripeAccountConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    out.error(err.message);
    return 2;
  }
  if (!config.STRIPE_API_KEY) {
    out.error(
      "STRIPE_API_KEY is required: the meter is looked up (and created) in the Stripe account the key belongs to",
    );
    return 2;
  }
  const stripe = createStripe(config.STRIPE_API_KEY, config.STRIPE_API_BASE, config.STRIPE_TIMEOUT);
  const eventName = config.STRIPE_METER_EVENT_NAME;
  try {
    const setup = await setUpMeter(stripe, eventName, { checkOnly: args.includes("--check") });
    return report(setup, eventName, out);
  } catch (err) {
    out.error(describeFailure(err, config.STRIPE_API_BASE ?? "api.stripe.com"));
    return 2;
  }
}

function report(setup: MeterSetup, eventName: string, out: Output): number {
  const { customer, value } = METER_PAYLOAD_KEYS;
  switch (setup.outcome) {
    case "ready":
      out.log(`meter ${describe(setup.meter)} is set up as the sidecar needs`);
      return 0;
    case "created":
      out.log(
        `created meter ${describe(setup.meter)}: the sum of payload.${value} per customer in payload.${customer}`,
      );
      out.log("next: add a usage-based price on this meter in the Dashboard (docs/BILLING.md)");
      return 0;
    case "missing":
      out.error(`no Billing meter has event name "${eventName}": run pnpm stripe:setup to create it`);
      return 1;
    case "different": {
      const { meter, differences } = setup;
      out.error(`meter ${describe(meter)} does not count what the sidecar sends:`);
      for (const difference of differences) out.error(`  - ${difference}`);
      out.error("Nothing was changed.");
      const inactive = meter.status !== "active";
      if (differences.length > (inactive ? 1 : 0)) {
        out.error(
          "A meter's settings cannot change once it exists (only its display name can): set STRIPE_METER_EVENT_NAME to a new event name, for the sidecar and for this command, and run pnpm stripe:setup again to create a meter for it.",
        );
      } else {
        out.error(
          "If its deactivation was not meant, reactivate it on the Dashboard's Meters page, then run pnpm stripe:setup --check.",
        );
      }
      return 1;
    }
  }
}

const describe = (meter: Stripe.Billing.Meter) =>
  `${meter.id} ("${meter.display_name}", event name "${meter.event_name}", ${meter.livemode ? "live" : "test"} mode)`;

/** Stripe's own messages never hold the whole key (it masks all but the last four characters). */
function describeFailure(err: unknown, host: string): string {
  if (err instanceof Stripe.errors.StripeConnectionError)
    return `cannot reach Stripe at ${host}: ${err.message}`;
  if (err instanceof Stripe.errors.StripeAuthenticationError)
    return `Stripe refused STRIPE_API_KEY: ${err.message}`;
  if (err instanceof Stripe.errors.StripePermissionError) {
    return `STRIPE_API_KEY may not manage Billing meters (a restricted key needs write access to them): ${err.message}`;
  }
  if (err instanceof Stripe.errors.StripeError)
    return `Stripe answered ${err.statusCode ?? "?"}: ${err.message}`;
  return `the Stripe call failed: ${err instanceof Error ? err.message : String(err)}`;
}
