import { ApiError } from "./errors.js";

const NO_KEY_MESSAGE =
  "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.";

/** Stripe answers bad credentials with 401 and an `invalid_request_error` envelope, plus a Basic challenge. */
const unauthorized = (message: string): ApiError =>
  new ApiError(
    401,
    { type: "invalid_request_error", message },
    { "WWW-Authenticate": 'Basic realm="Stripe"' },
  );

/**
 * The credential in an Authorization header: `Bearer <key>`, or `Basic base64(<key>:)` as curl's
 * `-u sk_test_…:` sends it. Throws Stripe's 401 when there is none.
 */
export function credentialOf(header: string | undefined): string {
  if (header === undefined || header.trim() === "") throw unauthorized(NO_KEY_MESSAGE);
  const [scheme, token = ""] = header.trim().split(/\s+/, 2);
  if (scheme?.toLowerCase() === "bearer" && token !== "") return token;
  if (scheme?.toLowerCase() === "basic" && token !== "") {
    const user = Buffer.from(token, "base64").toString("utf8").split(":")[0] ?? "";
    if (user !== "") return user;
  }
  throw unauthorized(NO_KEY_MESSAGE);
}

export function invalidKey(key: string): ApiError {
  return unauthorized(`Invalid API Key provided: ${mask(key)}`);
}

/** Stripe never echoes a whole key: it keeps the prefix and the last four characters. */
function mask(key: string): string {
  const prefix = /^[a-z]+_(test|live)_/.exec(key)?.[0] ?? "";
  const tail = key.length - prefix.length > 4 ? key.slice(-4) : "";
  return `${prefix}${"*".repeat(Math.max(key.length - prefix.length - tail.length, 4))}${tail}`;
}

/** Accepts one configured secret key, or, when none is configured, any test-mode secret/restricted key. */
export function secretKeyChecker(configured: string | undefined): (key: string) => boolean {
  if (configured !== undefined) return (key) => key === configured;
  return (key) => /^(sk|rk)_test_[A-Za-z0-9_]+$/.test(key);
}
