import { performance } from "node:perf_hooks";

const TIMEOUT_MS = 5_000;

export type AdminResult<T> =
  | { ok: true; status: number; body: T; ms: number }
  | { ok: false; status: number | undefined; error: string; ms: number };

/** The fields of a key the soak reads back; creation and rotation add the secret. */
export interface KeyAnswer {
  id: string;
  status: string;
  rate_limit_per_minute: number | null;
  key?: string;
}

/** The REST management API with the admin token, every answer other than 2xx an error. */
export class AdminApi {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string,
  ) {}

  createKey(userId: string, name: string, perMinute: number): Promise<AdminResult<KeyAnswer>> {
    return this.call("POST", "/api/keys", {
      user_id: userId,
      name,
      rate_limit_per_minute: perMinute,
      rate_limit_per_day: perMinute * 100,
    });
  }

  patchLimits(id: string, perMinute: number): Promise<AdminResult<KeyAnswer>> {
    return this.call("PATCH", `/api/keys/by-id/${id}`, {
      rate_limit_per_minute: perMinute,
      rate_limit_per_day: perMinute * 100,
    });
  }

  rotate(id: string, gracePeriod: string): Promise<AdminResult<KeyAnswer>> {
    return this.call("POST", `/api/keys/by-id/${id}/rotate`, { grace_period: gracePeriod });
  }

  revoke(id: string): Promise<AdminResult<KeyAnswer>> {
    return this.call("DELETE", `/api/keys/${id}`);
  }

  private async call<T>(method: string, path: string, body?: object): Promise<AdminResult<T>> {
    const started = performance.now();
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body) headers["content-type"] = "application/json";
    try {
      const res = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers,
        body: body ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const text = await res.text();
      const ms = performance.now() - started;
      if (res.status < 200 || res.status > 299) {
        return { ok: false, status: res.status, error: `HTTP ${res.status}: ${text.slice(0, 200)}`, ms };
      }
      return { ok: true, status: res.status, body: JSON.parse(text) as T, ms };
    } catch (err) {
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return { ok: false, status: undefined, error, ms: performance.now() - started };
    }
  }
}
