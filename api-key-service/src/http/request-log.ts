import { randomUUID } from "node:crypto";
import type { Logger } from "@gateway/common";
import type { RequestHandler } from "express";
import type { Counter, Histogram } from "prom-client";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export interface HttpMetrics {
  requests: Counter<"method" | "route" | "status">;
  duration: Histogram<"method" | "route">;
}

/**
 * Honours a well-formed `x-request-id` (Envoy sets one) or makes one, echoes it, and writes one log line
 * and one metric sample per request. Nothing from headers or bodies is logged.
 */
export function requestLog(logger: Logger, metrics: HttpMetrics): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    const given = req.headers["x-request-id"];
    const requestId = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    res.locals.requestId = requestId;
    res.setHeader("x-request-id", requestId);
    res.on("finish", () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = req.route?.path ? String(req.route.path) : "unmatched";
      metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.duration.observe({ method: req.method, route }, seconds);
      logger.info(
        {
          request_id: requestId,
          method: req.method,
          route,
          status: res.statusCode,
          duration_ms: Math.round(seconds * 1e6) / 1e3,
          client_ip: req.ip,
        },
        "request",
      );
    });
    next();
  };
}
