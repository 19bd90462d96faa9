/** The fields of Stripe's error envelope `{ error: { … } }`; absent fields are left out of the JSON. */
export interface StripeErrorFields {
  type: string;
  message: string;
  code?: string;
  param?: string;
  doc_url?: string;
}

/** Thrown by handlers; the server turns it into Stripe's error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly fields: StripeErrorFields,
    readonly headers: Record<string, string> = {},
  ) {
    super(fields.message);
  }

  body(): { error: StripeErrorFields } {
    return { error: { ...this.fields } };
  }
}

const invalidRequest = (message: string, extra: Partial<StripeErrorFields> = {}, status = 400): ApiError =>
  new ApiError(status, { type: "invalid_request_error", message, ...extra });

export const badRequest = (message: string, param?: string): ApiError =>
  invalidRequest(message, param === undefined ? {} : { param });

export const missingParam = (param: string): ApiError =>
  invalidRequest(`Missing required param: ${param}.`, { code: "parameter_missing", param });

export const unknownParam = (param: string): ApiError =>
  invalidRequest(`Received unknown parameter: ${param}`, { code: "parameter_unknown", param });

export const invalidInteger = (param: string, raw: string): ApiError =>
  invalidRequest(`Invalid integer: ${raw}`, { code: "parameter_invalid_integer", param });

export const tooLong = (param: string, raw: string, max: number): ApiError => {
  const shown = raw.length > 20 ? `${raw.slice(0, 20)}...` : raw;
  return invalidRequest(`Invalid string: ${shown}; must be at most ${max} characters`, { param });
};

export const resourceMissing = (message: string, param: string): ApiError =>
  invalidRequest(message, { code: "resource_missing", param }, 404);

export const unrecognizedUrl = (method: string, path: string): ApiError =>
  invalidRequest(
    `Unrecognized request URL (${method}: ${path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/.`,
    {},
    404,
  );

/** Stripe's rate-limit answer; `code: rate_limit` is what stripe-node keys StripeRateLimitError on. */
export const rateLimited = (reason: string, extraHeaders: Record<string, string> = {}): ApiError =>
  new ApiError(
    429,
    {
      type: "invalid_request_error",
      code: "rate_limit",
      message:
        "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
      doc_url: "https://stripe.com/docs/error-codes/rate-limit",
    },
    { "Stripe-Rate-Limited-Reason": reason, ...extraHeaders },
  );

export const serverError = (status: number, extraHeaders: Record<string, string> = {}): ApiError =>
  new ApiError(
    status,
    {
      type: "api_error",
      message:
        "Sorry, something went wrong. We've already been notified of the problem, but if you need any help, you can reach us at support.stripe.com/contact.",
    },
    extraHeaders,
  );

/** v2 answers schema errors with `code: invalid_fields`, which stripe-node maps to StripeInvalidRequestError. */
export const invalidFields = (message: string): ApiError =>
  new ApiError(400, { type: "invalid_request_error", code: "invalid_fields", message });
