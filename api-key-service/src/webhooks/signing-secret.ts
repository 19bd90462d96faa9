import { randomBytes } from "node:crypto";

/** Standard Webhooks secrets are `whsec_` and base64 of the HMAC key; 32 bytes is above the spec's 24. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}
