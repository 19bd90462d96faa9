import { AppError } from "../errors.js";

/** What Stripe knows of a customer id: a live customer, none, or one deleted (Stripe keeps its id). */
export type CustomerStatus = "ok" | "missing" | "deleted";

/** Where customer ids are checked before the service stores one; Stripe in production. */
export interface CustomerDirectory {
  /** Throws CustomerDirectoryUnavailable when the answer cannot be had (unreachable, 5xx, timeout…). */
  exists(id: string): Promise<CustomerStatus>;
}

export class CustomerDirectoryUnavailable extends Error {
  override name = "CustomerDirectoryUnavailable";
}

/** Without a Stripe key there is nothing to ask: the request schema's format check is all there is. */
export const formatOnly: CustomerDirectory = { exists: async () => "ok" };

/** Seconds a client is told to wait when Stripe could not be asked. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Refuses a customer id that names no live customer (422, naming the field) and, when the directory
 * cannot answer, refuses the whole change (503) rather than store an id nobody checked.
 */
export async function requireLiveCustomer(
  directory: CustomerDirectory,
  id: string,
  field = "stripe_customer_id",
): Promise<void> {
  let status: CustomerStatus;
  try {
    status = await directory.exists(id);
  } catch (err) {
    if (!(err instanceof CustomerDirectoryUnavailable)) throw err;
    throw new AppError(
      "UNAVAILABLE",
      `Stripe could not be asked whether ${field} names a customer; nothing was changed, retry shortly`,
      [],
      RETRY_AFTER_SECONDS,
    );
  }
  if (status === "ok") return;
  const message =
    status === "missing" ? "names no customer in the Stripe account" : "names a customer deleted in Stripe";
  throw new AppError("UNPROCESSABLE", `${field}: ${message}`, [{ field, message }]);
}
