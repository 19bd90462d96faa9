import { createHash, timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler, Response } from "express";
import { ADMIN_TOKEN_PRINCIPAL, hasScope, type Principal, type Scope } from "../access/scopes.js";
import { AppError } from "../errors.js";
import type { KeyFormat } from "../keys/key-format.js";
import type { ManagementKeyAuth } from "../management-keys/management-key-auth.js";
import type { RequestContext } from "../request-context.js";
import type { AdminAuthLimiter } from "./admin-auth-limiter.js";

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();

export interface AuthenticateOptions {
  adminToken: string;
  managementKeyFormat: KeyFormat;
  managementKeys: ManagementKeyAuth;
  limiter: AdminAuthLimiter;
}

const REFUSED = {
  unknown: "the admin token or management key is not valid",
  revoked: "the management key has been revoked",
  expired: "the management key has expired",
} as const;

/**
 * Who is calling: `Authorization: Bearer <ADMIN_TOKEN>` (every scope) or `Bearer gwm_…` (a
 * management key, its scopes, maybe one user). The admin token is compared after hashing both sides
 * to equal length, so the comparison takes the same time however much of it matches; a management
 * key is found by the hash of its secret.
 *
 * An address that sent too many wrong credentials is answered 429 before its credential is looked
 * at, the right one included: were the right one let through, a refusal would still tell a guesser
 * "wrong", and guessing would go on. Only a bearer credential that does not match counts as a
 * failure; a request with no credential, or another scheme, guesses nothing and is simply refused.
 */
export function authenticator(options: AuthenticateOptions) {
  const expected = digest(options.adminToken);

  async function identify(req: Request): Promise<Principal> {
    const address = req.ip ?? req.socket.remoteAddress ?? "unknown";
    const waitMs = options.limiter.blockedFor(address);
    if (waitMs > 0) {
      throw new AppError(
        "RATE_LIMITED",
        "too many failed authentications from this address; retry later",
        [],
        Math.max(1, Math.ceil(waitMs / 1000)),
      );
    }
    const header = req.headers.authorization;
    const match = header ? /^Bearer[ ]+(\S+)\s*$/i.exec(header) : null;
    const token = match?.[1];
    if (!token) {
      throw new AppError(
        "UNAUTHENTICATED",
        "send the admin token or a management key as Authorization: Bearer <token>",
      );
    }
    if (timingSafeEqual(digest(token), expected)) return ADMIN_TOKEN_PRINCIPAL;
    if (options.managementKeyFormat.isWellFormed(token)) {
      const found = await options.managementKeys.check(token);
      if (found.kind === "valid") return found.principal;
      options.limiter.recordFailure(address);
      throw new AppError("UNAUTHENTICATED", REFUSED[found.kind]);
    }
    options.limiter.recordFailure(address);
    throw new AppError("UNAUTHENTICATED", REFUSED.unknown);
  }

  /** Authenticates the request and requires one scope (`admin` holds them all). */
  return function requireScope(scope: Scope): RequestHandler {
    return async (req, res, next) => {
      const principal = await identify(req);
      if (!hasScope(principal, scope)) {
        throw new AppError("FORBIDDEN", `this credential lacks the scope ${scope}`);
      }
      res.locals.principal = principal;
      next();
    };
  };
}

export function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

export function contextOf(req: Request, res: Response): RequestContext {
  return {
    requestId: String(res.locals.requestId),
    clientIp: req.ip ?? null,
    actor: principalOf(res).actor,
  };
}
