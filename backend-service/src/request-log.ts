import type { RequestHandler } from "express";

export type LogLine = Record<string, unknown>;
export type Log = (line: LogLine) => void;

/** One JSON line on stdout per event. */
export const stdoutLog: Log = (line) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
};

/**
 * One line per request: method, path, status, duration. Never headers (they may carry a credential the
 * gateway was told to keep) and never the query string (callers put keys there too).
 */
export function requestLog(log: Log): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      log({
        msg: "request",
        method: req.method,
        path: req.path,
        status: res.statusCode,
        duration_ms: Number(process.hrtime.bigint() - started) / 1e6,
      });
    });
    next();
  };
}
