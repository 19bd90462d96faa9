import type { KeyChecker } from "../../authz/check-key.js";
import { toVerifyResult } from "../../verify/verify-result.js";
import { route } from "../route.js";
import { verifyBody } from "../schemas.js";
import { verifyResultView } from "../views.js";

export function verifyRoutes(checker: KeyChecker, now: () => number = Date.now) {
  return [
    route({
      method: "post",
      path: "/v1/keys/verify",
      scope: "keys:verify",
      summary: "Is this API key good? The same decision Envoy's check gets, as a JSON answer",
      description:
        "Always 200 for a well-formed request: `valid` and `code` say what the check decided. `consume: false` reads the limits without counting. A user-bound credential sees other users' keys as NOT_FOUND.",
      body: verifyBody,
      success: { status: 200, description: "The decision", schema: verifyResultView },
      handler: async ({ body, principal }) => {
        const decision = await checker.checkSecret(body.key, {
          requiredScopes: body.required_scopes,
          cost: body.cost,
          consume: body.consume,
          ...(principal.userId !== null ? { onlyUserId: principal.userId } : {}),
        });
        return toVerifyResult(decision, now());
      },
    }),
  ];
}
