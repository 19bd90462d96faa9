import { loadConfig } from "../../../api-key-service/src/config.js";
import {
  FORWARD_AUTH_PATH,
  REQUEST_COST_HEADER,
  REQUIRED_SCOPES_HEADER,
} from "../../../api-key-service/src/forward-auth/request.js";
import { INTERNAL_TOKEN_HEADER } from "../../../packages/common/src/internal-token.js";

/** api-key-service's defaults, read from its own config schema, so the shipped configs cannot drift. */
const defaults = loadConfig({
  DATABASE_URL: "postgres://postgres@localhost:5432/gateway",
  REDIS_URL: "redis://localhost:6379",
  ADMIN_TOKEN: "x".repeat(32),
});

/** What every gateway configuration must agree with: where the endpoint is and which headers it reads. */
export const ENDPOINT = {
  path: FORWARD_AUTH_PATH,
  port: defaults.AUTH_HTTP_PORT,
  authorizationHeader: defaults.AUTHORIZATION_HEADER,
  apiKeyHeader: defaults.API_KEY_HEADER,
  scopesHeader: REQUIRED_SCOPES_HEADER,
  costHeader: REQUEST_COST_HEADER,
  tokenHeader: INTERNAL_TOKEN_HEADER,
  identityHeaders: ["x-api-key-id", "x-user-id"],
} as const;
