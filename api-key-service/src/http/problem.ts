import type { Logger } from "@gateway/common";
import type { ErrorRequestHandler, RequestHandler, Response } from "express";
import { AppError, type ErrorCode, type FieldProblem } from "../errors.js";

const STATUS: Record<ErrorCode, number> = {
  INVALID_INPUT: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNPROCESSABLE: 422,
  RATE_LIMITED: 429,
  UNAVAILABLE: 503,
};

const TITLE: Record<number, string> = {
  400: "Invalid input",
  401: "Unauthenticated",
  403: "Forbidden",
  404: "Not found",
  405: "Method not allowed",
  409: "Conflict",
  413: "Payload too large",
  415: "Unsupported media type",
  422: "Unprocessable content",
  429: "Too many requests",
  500: "Internal server error",
  503: "Service unavailable",
};

/** Writes an RFC 9457 problem document. */
export function sendProblem(
  res: Response,
  status: number,
  detail: string,
  extra: { code?: string; errors?: FieldProblem[] } = {},
): void {
  if (status === 401) res.setHeader("WWW-Authenticate", 'Bearer realm="api-key-gateway"');
  res
    .status(status)
    .type("application/problem+json")
    .send(
      JSON.stringify({
        type: "about:blank",
        title: TITLE[status] ?? "Error",
        status,
        detail,
        instance: res.req.originalUrl.split("?")[0],
        request_id: res.locals.requestId,
        ...extra,
      }),
    );
}

export const notFoundRoute: RequestHandler = (req, res) => {
  sendProblem(res, 404, `no route for ${req.method} ${req.path}`, { code: "NOT_FOUND" });
};

/**
 * Maps every error to a problem. Client mistakes caught by express or body-parser keep their 4xx
 * status; anything unknown becomes a 500 that carries only the request id, the details go to the log.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    if (res.headersSent) return;
    if (err instanceof AppError) {
      if (err.retryAfterSeconds !== undefined) res.setHeader("Retry-After", String(err.retryAfterSeconds));
      sendProblem(res, STATUS[err.code], err.message, {
        code: err.code,
        ...(err.fieldProblems.length > 0 ? { errors: err.fieldProblems } : {}),
      });
      return;
    }
    const status = clientErrorStatus(err);
    if (status) {
      sendProblem(res, status, clientErrorDetail(err, status), { code: codeFor(status) });
      return;
    }
    if (isDependencyOutage(err)) {
      logger.warn({ request_id: res.locals.requestId, err: describe(err).message }, "dependency unavailable");
      res.setHeader("Retry-After", "5");
      sendProblem(res, 503, "a dependency of the service is unavailable; retry shortly", {
        code: "UNAVAILABLE",
      });
      return;
    }
    logger.error(
      { request_id: res.locals.requestId, method: req.method, path: req.path, err: describe(err) },
      "unhandled error",
    );
    sendProblem(res, 500, "an internal error occurred; quote the request id when reporting it", {
      code: "INTERNAL",
    });
  };
}

const OUTAGE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "57P01",
  "57P03",
  "08000",
  "08001",
  "08006",
]);

/** Postgres or Redis could not be reached: the caller may retry, unlike after a bug. */
function isDependencyOutage(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === "string" && OUTAGE_CODES.has(code)) return true;
  return /Connection terminated|timeout exceeded when trying to connect|Query read timeout/i.test(
    err.message,
  );
}

function clientErrorStatus(err: unknown): number | null {
  if (typeof err !== "object" || err === null) return null;
  const status =
    (err as { status?: unknown; statusCode?: unknown }).status ??
    (err as { statusCode?: unknown }).statusCode;
  return typeof status === "number" && status >= 400 && status < 500 ? status : null;
}

function clientErrorDetail(err: unknown, status: number): string {
  const type = (err as { type?: string }).type;
  if (type === "entity.parse.failed") return "body: is not valid JSON";
  if (type === "entity.too.large") return "body: must be at most 1 MB";
  if (status === 415) return "body: unsupported content encoding or charset";
  if (status === 400) return "the request could not be read (bad encoding in the path or body)";
  return "the request was refused";
}

function codeFor(status: number): string {
  const found = Object.entries(STATUS).find(([, s]) => s === status);
  return found ? found[0] : "INVALID_INPUT";
}

function describe(err: unknown): { message: string; stack?: string | undefined } {
  return err instanceof Error ? { message: err.message, stack: err.stack } : { message: String(err) };
}
