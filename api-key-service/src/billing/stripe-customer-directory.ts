import type { Logger } from "@gateway/common";
import Stripe from "stripe";
import {
  type CustomerDirectory,
  CustomerDirectoryUnavailable,
  type CustomerStatus,
} from "./customer-directory.js";

export interface StripeCustomerDirectoryOptions {
  apiKey: string;
  /** Another host for the SDK (`STRIPE_API_BASE`), such as a local emulator. */
  apiBase?: string | undefined;
  timeoutMs: number;
  logger: Logger;
}

/** Customers as Stripe's API answers for them, through the official SDK. */
export class StripeCustomerDirectory implements CustomerDirectory {
  private readonly stripe: Stripe;
  private readonly logger: Logger;

  constructor(options: StripeCustomerDirectoryOptions) {
    const base = options.apiBase ? new URL(options.apiBase) : undefined;
    this.stripe = new Stripe(options.apiKey, {
      // Someone waits on this answer: one retry of a network error or 5xx, not the SDK's usual two.
      maxNetworkRetries: 1,
      timeout: options.timeoutMs,
      telemetry: false,
      ...(base
        ? {
            host: base.hostname,
            port: Number(base.port || (base.protocol === "https:" ? 443 : 80)),
            protocol: base.protocol === "https:" ? "https" : "http",
          }
        : {}),
    });
    this.logger = options.logger;
  }

  async exists(id: string): Promise<CustomerStatus> {
    try {
      const customer = await this.stripe.customers.retrieve(id);
      // Stripe answers a deleted customer with 200 and a stub whose `deleted` is true.
      return "deleted" in customer && customer.deleted ? "deleted" : "ok";
    } catch (err) {
      if (
        err instanceof Stripe.errors.StripeInvalidRequestError &&
        err.statusCode === 404 &&
        err.code === "resource_missing"
      ) {
        return "missing";
      }
      // Unreachable, 5xx, timeout, 429, or a key Stripe refuses: none of them says whether the customer exists.
      this.logger.warn({ err, stripe_customer_id: id }, "stripe customer lookup failed");
      throw new CustomerDirectoryUnavailable("Stripe could not be asked about a customer", { cause: err });
    }
  }
}
