import type { Request, Response } from "express";
import type { z } from "zod";
import type { Principal, Scope } from "../access/scopes.js";
import type { RequestContext } from "../request-context.js";

export type Method = "get" | "post" | "put" | "patch" | "delete";

/** Statuses a route may answer besides its success and the ones every route shares. */
export type RouteError = 404 | 409 | 422 | 503;

export interface HandlerInput<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType> {
  params: z.output<P>;
  query: z.output<Q>;
  body: z.output<B>;
  principal: Principal;
  ctx: RequestContext;
  req: Request;
  res: Response;
}

/**
 * One REST route, declared once: the express router, the OpenAPI document, the README check and the
 * security tests' route list are all made from these declarations.
 */
export interface Route<
  P extends z.ZodType = z.ZodUnknown,
  Q extends z.ZodType = z.ZodUnknown,
  B extends z.ZodType = z.ZodUnknown,
> {
  method: Method;
  /** Express form: `/api/keys/by-id/:id`. */
  path: string;
  summary: string;
  description?: string;
  /** The management scope the caller needs; null for a public route. */
  scope: Scope | null;
  params?: P;
  /** A path parameter of the wrong shape cannot name anything: answered 404 "<this> was not found". */
  notFoundOnBadParams?: string;
  query?: Q;
  body?: B;
  /** A body may be left out altogether (it is then `{}`). */
  bodyOptional?: boolean;
  success: { status: 200 | 201; description: string; schema: z.ZodType; csv?: boolean };
  errors?: Partial<Record<RouteError, string>>;
  /** Returns the JSON body; a handler that answered itself (CSV) returns undefined. */
  handler: (input: HandlerInput<P, Q, B>) => Promise<unknown>;
}

// biome-ignore lint/suspicious/noExplicitAny: a list of routes of any schemas
export type AnyRoute = Route<any, any, any>;

/** Declares a route; the identity, for type inference of the handler's input. */
export function route<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType>(
  def: Route<P, Q, B>,
): Route<P, Q, B> {
  return def;
}

/** `/api/keys/:id` → `/api/keys/{id}` */
export const openApiPath = (path: string) => path.replace(/:(\w+)/g, "{$1}");
