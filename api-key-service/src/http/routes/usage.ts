import { AppError } from "../../errors.js";
import type { KeyService } from "../../keys/keys.service.js";
import { toCsv, type UsageService } from "../../usage/usage.service.js";
import { ownerFor } from "../owner.js";
import { route } from "../route.js";
import { usageQuery } from "../schemas.js";
import { usageReportView } from "../views.js";

const DAY_MS = 86_400_000;

export function usageRoutes(usage: UsageService, keys: KeyService) {
  return [
    route({
      method: "get",
      path: "/api/usage",
      scope: "usage:read",
      summary:
        "Usage per key and window: allowed and denied checks, requests the access log delivered, the gap between them, and what was sent to Stripe per customer and day",
      description:
        "Give one of `user_id`, `key_id` or `stripe_customer_id`. `from` defaults to `to` − 24 h, `to` to now. CSV with `format=csv` or `Accept: text/csv`. Usage recorded without a Stripe customer shows per window as `unbilled_units` until a customer is set, then as `backfilled_units`, or as `unbillable_units` with an `unbillable_reason` once it is past Stripe's 35-day window (docs/BILLING.md).",
      query: usageQuery,
      success: { status: 200, description: "The usage report", schema: usageReportView, csv: true },
      errors: { 404: "A user-bound credential asked for another user's usage" },
      handler: async ({ query: q, principal, req, res }) => {
        if (principal.userId !== null) {
          if (q.stripe_customer_id !== undefined) {
            throw new AppError("FORBIDDEN", "a user-bound management key reads usage by user_id or key_id");
          }
          if (q.key_id !== undefined) await keys.get(q.key_id, { userId: principal.userId });
          else ownerFor(principal, q.user_id, "user");
        }
        const to = q.to ?? new Date();
        const from = q.from ?? new Date(to.getTime() - DAY_MS);
        const report = await usage.report({
          ...(q.user_id ? { userId: q.user_id } : {}),
          ...(q.key_id ? { keyId: q.key_id } : {}),
          ...(q.stripe_customer_id ? { stripeCustomerId: q.stripe_customer_id } : {}),
          from,
          to,
          granularity: q.granularity,
        });
        const csv =
          q.format === "csv" ||
          (q.format === undefined && req.accepts(["application/json", "text/csv"]) === "text/csv");
        if (!csv) return report;
        res.type("text/csv").attachment("usage.csv").send(toCsv(report.data));
        return undefined;
      },
    }),
  ];
}
