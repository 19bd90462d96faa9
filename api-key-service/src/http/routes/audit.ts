import type { Express } from "express";
import type { AuditService } from "../../audit/audit.service.js";
import { auditQuery } from "../schemas.js";
import { validate } from "../validate.js";

export function auditRoutes(app: Express, audit: AuditService): void {
  app.get("/api/audit", async (req, res) => {
    const { limit, cursor, ...filter } = validate(auditQuery, req.query, "query");
    res.json(await audit.list(filter, limit, cursor));
  });
}
