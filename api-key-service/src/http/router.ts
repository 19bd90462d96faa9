import type { Express, RequestHandler } from "express";
import type { Scope } from "../access/scopes.js";
import { AppError } from "../errors.js";
import { contextOf, principalOf } from "./authenticate.js";
import { jsonBody, requireJson } from "./json-body.js";
import type { AnyRoute } from "./route.js";
import { validate } from "./validate.js";

const parseJson = jsonBody();

/** Registers each declared route: scope check, JSON body, validated input, then the handler. */
export function mountRoutes(
  app: Express,
  routes: readonly AnyRoute[],
  requireScope: (scope: Scope) => RequestHandler,
): void {
  for (const r of routes) {
    const before: RequestHandler[] = [];
    if (r.scope) before.push(requireScope(r.scope));
    // After the credential: an unauthenticated caller learns nothing about what its body holds.
    if (r.body) before.push(requireJson, parseJson);
    app[r.method](r.path, ...before, async (req, res) => {
      const params = r.params ? parseParams(r, req.params) : {};
      const query = r.query ? validate(r.query, req.query, "query") : {};
      const body = r.body ? validate(r.body, req.body ?? {}, "body") : undefined;
      const result = await r.handler({
        params,
        query,
        body,
        // Read only by guarded routes, whose credential was checked before this handler.
        get principal() {
          return principalOf(res);
        },
        get ctx() {
          return contextOf(req, res);
        },
        req,
        res,
      });
      if (result === undefined || res.headersSent) return;
      res.status(r.success.status).json(result);
    });
  }
}

function parseParams(r: AnyRoute, params: unknown): unknown {
  if (r.notFoundOnBadParams && !r.params?.safeParse(params).success) {
    throw AppError.notFound(r.notFoundOnBadParams);
  }
  return validate(r.params, params, "path");
}
