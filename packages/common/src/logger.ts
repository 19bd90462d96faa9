import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger };

/**
 * One JSON line per event. Paths that could ever carry a credential are censored as a second line of
 * defence; the first is never passing one to the logger.
 */
export function createLogger(options: {
  service: string;
  level?: string;
  destination?: DestinationStream;
}): Logger {
  return pino(
    {
      level: options.level ?? "info",
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: [
          "authorization",
          "*.authorization",
          "key",
          "*.key",
          "token",
          "*.token",
          "headers",
          "*.headers",
        ],
        censor: "[redacted]",
      },
    },
    options.destination,
  );
}
