/** The closed set of failures the service reports to its callers; anything else is a bug (500). */
export type ErrorCode =
  | "INVALID_INPUT"
  | "UNAUTHENTICATED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "PAYLOAD_TOO_LARGE"
  | "UNSUPPORTED_MEDIA_TYPE"
  /** Well-formed, but names something that does not exist elsewhere (a Stripe customer). */
  | "UNPROCESSABLE"
  | "RATE_LIMITED"
  /** A dependency the request needs cannot be asked now; retry after Retry-After. */
  | "UNAVAILABLE";

export interface FieldProblem {
  field: string;
  message: string;
}

export class AppError extends Error {
  override name = "AppError";

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fieldProblems: FieldProblem[] = [],
    /** Seconds the client should wait before trying again (429, 503). */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  static notFound(what: string): AppError {
    return new AppError("NOT_FOUND", `${what} was not found`);
  }

  static invalid(field: string, message: string): AppError {
    return new AppError("INVALID_INPUT", `${field}: ${message}`, [{ field, message }]);
  }
}
