import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import { AppError } from "../errors.js";

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * Requires `Authorization: Bearer <ADMIN_TOKEN>`. Both sides are hashed to equal length first, so the
 * comparison takes the same time whatever the token's length or how much of it matches.
 */
export function adminAuth(adminToken: string): RequestHandler {
  const expected = digest(adminToken);
  return (req, _res, next) => {
    const header = req.headers.authorization;
    const match = header ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) {
      next(new AppError("UNAUTHENTICATED", "send the admin token as Authorization: Bearer <token>"));
      return;
    }
    if (!timingSafeEqual(digest(match[1]), expected)) {
      next(new AppError("UNAUTHENTICATED", "the admin token is not valid"));
      return;
    }
    next();
  };
}
