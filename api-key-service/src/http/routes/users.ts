import type { Express } from "express";
import type { UserService } from "../../users/users.service.js";
import { requireJson } from "../json-body.js";
import { userBillingBody, userId } from "../schemas.js";
import { validate } from "../validate.js";
import { contextOf } from "./keys.js";

export function userRoutes(app: Express, users: UserService): void {
  app.put("/api/users/:user_id", requireJson, async (req, res) => {
    const user = validate(userId, req.params.user_id, "path");
    const { stripe_customer_id } = validate(userBillingBody, req.body ?? {}, "body");
    res.json(await users.setBilling(user, stripe_customer_id, contextOf(req, res)));
  });
}
