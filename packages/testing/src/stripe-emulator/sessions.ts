import { randomBytes } from "node:crypto";
import { ApiError } from "./errors.js";

const FIFTEEN_MINUTES_MS = 15 * 60 * 1000;

export interface MeterEventSession {
  id: string;
  token: string;
  createdMs: number;
  expiresMs: number;
}

/** v2 meter event sessions: short-lived tokens that authenticate the stream endpoint only. */
export class SessionStore {
  private readonly byToken = new Map<string, MeterEventSession>();

  constructor(
    private readonly nowMs: () => number,
    private readonly ttlMs = FIFTEEN_MINUTES_MS,
  ) {}

  create(): MeterEventSession {
    const createdMs = this.nowMs();
    const session: MeterEventSession = {
      id: `mes_test_${randomBytes(12).toString("hex")}`,
      token: `mes_tok_test_${randomBytes(24).toString("hex")}`,
      createdMs,
      expiresMs: createdMs + this.ttlMs,
    };
    this.byToken.set(session.token, session);
    return session;
  }

  isSessionToken(token: string): boolean {
    return this.byToken.has(token);
  }

  /** Throws the v2 401 the SDK turns into TemporarySessionExpiredError once the token has expired. */
  assertLive(token: string): void {
    const session = this.byToken.get(token);
    if (session !== undefined && this.nowMs() >= session.expiresMs) {
      throw new ApiError(401, {
        type: "temporary_session_expired",
        code: "billing_meter_event_session_expired",
        message: "The temporary session token has expired.",
      });
    }
  }

  /** Expire every session now, as if 15 minutes had passed for them. */
  expireAll(): void {
    for (const session of this.byToken.values())
      session.expiresMs = Math.min(session.expiresMs, this.nowMs());
  }

  clear(): void {
    this.byToken.clear();
  }
}

export function sessionJson(session: MeterEventSession): Record<string, unknown> {
  return {
    id: session.id,
    object: "v2.billing.meter_event_session",
    authentication_token: session.token,
    created: new Date(session.createdMs).toISOString(),
    expires_at: new Date(session.expiresMs).toISOString(),
    livemode: false,
  };
}
