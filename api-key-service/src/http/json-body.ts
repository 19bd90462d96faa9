import express, { type RequestHandler } from "express";
import { AppError } from "../errors.js";

export const BODY_LIMIT = "1mb";
const MAX_DEPTH = 32;

/**
 * JSON bodies up to 1 MB. Two checks on the raw text run before parsing: Postgres cannot store the NUL
 * character in text or jsonb, and deep nesting would exhaust the stack of recursive validators.
 */
export function jsonBody(): RequestHandler {
  return express.json({
    limit: BODY_LIMIT,
    strict: true,
    verify: (_req, _res, raw) => {
      const text = raw.toString("utf8");
      if (text.includes("\\u0000"))
        throw new AppError("INVALID_INPUT", "body: text must not contain the NUL character");
      if (nestingDepth(text) > MAX_DEPTH) {
        throw new AppError("INVALID_INPUT", `body: JSON must be nested at most ${MAX_DEPTH} levels deep`);
      }
    },
  });
}

/** Routes that take a body refuse anything but JSON, rather than silently ignoring it. */
export const requireJson: RequestHandler = (req, _res, next) => {
  const hasBody =
    Number(req.headers["content-length"] ?? 0) > 0 || req.headers["transfer-encoding"] !== undefined;
  if (hasBody && !req.is("application/json")) {
    next(new AppError("UNSUPPORTED_MEDIA_TYPE", "send the body as application/json"));
    return;
  }
  next();
};

function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92)
        i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 || c === 123) max = Math.max(max, ++depth);
    else if (c === 93 || c === 125) depth--;
  }
  return max;
}
