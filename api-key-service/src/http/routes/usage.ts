import type { Express } from "express";
import { toCsv, type UsageService } from "../../usage/usage.service.js";
import { usageQuery } from "../schemas.js";
import { validate } from "../validate.js";

const DAY_MS = 86_400_000;

export function usageRoutes(app: Express, usage: UsageService): void {
  app.get("/api/usage", async (req, res) => {
    const q = validate(usageQuery, req.query, "query");
    const to = q.to ?? new Date();
    const from = q.from ?? new Date(to.getTime() - DAY_MS);
    const report = await usage.report({
      ...(q.user_id ? { userId: q.user_id } : {}),
      ...(q.key_id ? { keyId: q.key_id } : {}),
      from,
      to,
      granularity: q.granularity,
    });
    const csv =
      q.format === "csv" ||
      (q.format === undefined && req.accepts(["application/json", "text/csv"]) === "text/csv");
    if (csv) {
      res.type("text/csv").attachment("usage.csv").send(toCsv(report.data));
      return;
    }
    res.json(report);
  });
}
