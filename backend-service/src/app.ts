import type { IncomingMessage } from "node:http";
import { hostname } from "node:os";
import express, { type Express } from "express";
import { errorHandler, notFound } from "./errors.js";
import { type Log, requestLog, stdoutLog } from "./request-log.js";

/** Echoed bodies are kept small: the echo is for checking what the gateway forwards, not for uploads. */
export const ECHO_BODY_LIMIT_BYTES = 100 * 1024;

export interface AppOptions {
  log?: Log;
  bodyLimitBytes?: number;
}

// application/json and its structured-syntax relatives (application/problem+json, …).
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json\s*(?:;|$)/i;
const isJson = (req: IncomingMessage) => JSON_MEDIA_TYPE.test(req.headers["content-type"] ?? "");

/** The demo API behind the gateway. It trusts the identity headers because only Envoy can reach it. */
export function createApp(options: AppOptions = {}): Express {
  const log = options.log ?? stdoutLog;
  const limit = options.bodyLimitBytes ?? ECHO_BODY_LIMIT_BYTES;
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.use(requestLog(log));

  app.get("/health", (_req, res) => {
    res.json({ status: "ok" });
  });

  // ext_authz overwrites these two headers on every allowed request, so a caller cannot choose them.
  app.get("/hello", (req, res) => {
    const userId = req.get("x-user-id") ?? null;
    const apiKeyId = req.get("x-api-key-id") ?? null;
    res.json({
      message: userId ? `Hello, ${userId}!` : "Hello, anonymous caller!",
      user_id: userId,
      api_key_id: apiKeyId,
      served_by: hostname(),
    });
  });

  // Behind the gateway's scoped route: Envoy lets only keys holding the `admin` scope through.
  app.get("/admin", (req, res) => {
    res.json({
      area: "admin",
      user_id: req.get("x-user-id") ?? null,
      api_key_id: req.get("x-api-key-id") ?? null,
    });
  });

  // Any JSON value, not only objects and arrays: the echo shows what was sent. Other bodies as text.
  const jsonBody = express.json({ limit, strict: false, type: isJson });
  const textBody = express.text({ limit, type: (req) => !isJson(req) });
  app.all(["/echo", "/echo/{*rest}"], jsonBody, textBody, (req, res) => {
    res.json({
      method: req.method,
      path: req.path,
      query: req.query,
      headers: req.headers,
      body: req.body ?? null,
    });
  });

  app.use(notFound);
  app.use(errorHandler(log));
  return app;
}
