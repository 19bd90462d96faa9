import { createHash, timingSafeEqual } from "node:crypto";
import type { RequestHandler } from "express";
import { AppError } from "../errors.js";
import type { AdminAuthLimiter } from "./admin-auth-limiter.js";

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

/**
 * Requires `Authorization: Bearer <ADMIN_TOKEN>`. Both sides are hashed to equal length first, so the
 * comparison takes the same time whatever the token's length or how much of it matches.
 *
 * An address that sent too many wrong tokens is answered 429 before its token is compared, the right
 * token included: were the right one let through, a refusal would still tell a guesser "wrong", and
 * guessing would go on. Only a bearer token that does not match counts as a failure; a request with no
 * token, or another scheme, guesses nothing and is simply refused.
 */
export function adminAuth(adminToken: string, limiter: AdminAuthLimiter): RequestHandler {
  const expected = digest(adminToken);
  return (req, res, next) => {
    const address = req.ip ?? req.socket.remoteAddress ?? "unknown";
    const waitMs = limiter.blockedFor(address);
    if (waitMs > 0) {
      res.setHeader("Retry-After", String(Math.max(1, Math.ceil(waitMs / 1000))));
      next(
        new AppError("RATE_LIMITED", "too many failed admin authentications from this address; retry later"),
      );
      return;
    }
    const header = req.headers.authorization;
    const match = header ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    if (!match?.[1]) {
      next(new AppError("UNAUTHENTICATED", "send the admin token as Authorization: Bearer <token>"));
      return;
    }
    if (!timingSafeEqual(digest(match[1]), expected)) {
      limiter.recordFailure(address);
      next(new AppError("UNAUTHENTICATED", "the admin token is not valid"));
      return;
    }
    next();
  };
}
