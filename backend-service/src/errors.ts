import type { ErrorRequestHandler, RequestHandler, Response } from "express";
import type { Log } from "./request-log.js";

/**
 * Errors have the shape the gateway's own denials have (`{"error":{"code","message"}}`), so a caller
 * reads one format whether Envoy, ext_authz or this service answered.
 */
export function sendError(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

export const notFound: RequestHandler = (req, res) => {
  sendError(res, 404, "not_found", `no route for ${req.method} ${req.path}`);
};

/** body-parser marks its errors with a `type`; each is the caller's mistake, never a 500. */
const BODY_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  "entity.parse.failed": { status: 400, code: "invalid_json", message: "the body is not valid JSON" },
  "entity.too.large": { status: 413, code: "payload_too_large", message: "the body is too large" },
  "entity.verify.failed": { status: 400, code: "invalid_body", message: "the body was refused" },
  "request.size.invalid": { status: 400, code: "invalid_body", message: "the body is not the declared size" },
  "request.aborted": { status: 400, code: "request_aborted", message: "the request was aborted" },
  "encoding.unsupported": {
    status: 415,
    code: "unsupported_media_type",
    message: "the content encoding is not supported",
  },
  "charset.unsupported": {
    status: 415,
    code: "unsupported_media_type",
    message: "the charset is not supported",
  },
};

export function errorHandler(log: Log): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const known = BODY_ERRORS[String((err as { type?: unknown })?.type)];
    if (known) {
      const message =
        known.code === "payload_too_large" ? `${known.message} (limit ${limitOf(err)})` : known.message;
      sendError(res, known.status, known.code, message);
      return;
    }
    const status = Number((err as { status?: unknown })?.status);
    if (status >= 400 && status < 500) {
      sendError(res, status, "bad_request", "the request could not be handled");
      return;
    }
    // Unknown failures: the details go to the log, the caller learns nothing about the internals.
    log({ msg: "unhandled error", method: req.method, path: req.path, err: String(err?.message ?? err) });
    sendError(res, 500, "internal", "internal error");
  };
}

function limitOf(err: unknown): string {
  const limit = Number((err as { limit?: unknown }).limit);
  return Number.isFinite(limit) ? `${limit} bytes` : "exceeded";
}
