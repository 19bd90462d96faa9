/** With STRIPE_API_KEY set, a Stripe customer id is checked against Stripe before it is stored. */
export const checkedCustomerErrors = {
  422: "`stripe_customer_id` names no customer in the Stripe account, or a deleted one (with STRIPE_API_KEY set)",
  503: "Stripe could not be asked about `stripe_customer_id` (unreachable, 5xx, timeout); nothing was stored",
} as const;
