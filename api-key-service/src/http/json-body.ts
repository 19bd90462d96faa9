import express, { type RequestHandler } from "express";
import { AppError } from "../errors.js";

export const BODY_LIMIT = "1mb";
const MAX_DEPTH = 32;
/** A UTF-16 surrogate without its partner: JSON can escape one ("\ud800"), Unicode text cannot hold it. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * JSON bodies up to 1 MB. Checks on the raw text run before parsing: Postgres cannot store the NUL
 * character in text or jsonb, deep nesting would exhaust the stack of recursive validators, and what
 * `unstorable` finds would otherwise be stored differently from what was sent, or fail the write.
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
      const problem = unstorable(text);
      if (problem) throw new AppError("INVALID_INPUT", `body: ${problem}`);
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
  // JSON is UTF-8 (RFC 8259 §8.1). Decoded as UTF-16, a body such as "{" comes out empty and would be
  // taken for {}: an invalid body accepted as an empty one.
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(req.headers["content-type"] ?? "")?.[1];
  if (hasBody && charset !== undefined && !/^utf-?8$/i.test(charset)) {
    next(new AppError("UNSUPPORTED_MEDIA_TYPE", "send the body as UTF-8 JSON (charset=utf-8 or none)"));
    return;
  }
  next();
};

/**
 * A lone surrogate in a string or key would be replaced by U+FFFD in a text column and fails a jsonb
 * write outright; a key named "__proto__" is silently dropped by the object validators. Invalid JSON
 * is left for the parser proper to report.
 */
function unstorable(text: string): string | null {
  let found: string | null = null;
  try {
    JSON.parse(text, (key, value: unknown) => {
      if (found) return value;
      if (key === "__proto__") found = 'a key must not be "__proto__"';
      else if (LONE_SURROGATE.test(key) || (typeof value === "string" && LONE_SURROGATE.test(value))) {
        found = "text must be valid Unicode (it holds a lone surrogate)";
      }
      return value;
    });
  } catch {
    return null;
  }
  return found;
}

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
