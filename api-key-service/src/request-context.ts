import type { Actor } from "@gateway/db";

/** Who asked for a change, recorded with it in the audit log. */
export interface RequestContext {
  requestId: string;
  clientIp: string | null;
  actor: Actor;
}
