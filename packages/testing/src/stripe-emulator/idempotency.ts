import { ApiError, badRequest } from "./errors.js";

/** A finished answer as the idempotency layer stores and replays it. */
export interface StoredResponse {
  status: number;
  body: unknown;
  headers: Record<string, string>;
  requestId: string;
}

interface Entry {
  endpoint: string;
  fingerprint: string;
  startedAtMs: number;
  /** Null while the first request with the key is still executing. */
  response: StoredResponse | null;
}

export type IdempotencyOutcome =
  | { kind: "replay"; response: StoredResponse }
  | { kind: "proceed"; finish(response: StoredResponse | null): void };

const DAY_MS = 24 * 60 * 60 * 1000;
const MAX_KEY_LENGTH = 255;

/**
 * Stripe's request-level replay (reference §1.6): the first answer for a key is saved and
 * replayed to retries with the same parameters; different parameters get `idempotency_error`;
 * a retry while the first is still executing gets 409. Only successful answers are saved here:
 * the reference says failed validation saves nothing, and the emulator's other failures
 * (429s, injected faults) happen before the endpoint runs.
 */
export class IdempotencyStore {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly nowMs: () => number,
    private readonly ttlMs = DAY_MS,
  ) {}

  begin(key: string, endpoint: string, fingerprint: string): IdempotencyOutcome {
    if (key.length > MAX_KEY_LENGTH) {
      throw badRequest(`Idempotency-Key must be at most ${MAX_KEY_LENGTH} characters.`, "Idempotency-Key");
    }
    const existing = this.entries.get(key);
    if (existing !== undefined && this.nowMs() - existing.startedAtMs < this.ttlMs) {
      if (existing.endpoint !== endpoint)
        throw mismatch(key, `for the same endpoint they were first used for (${existing.endpoint})`);
      if (existing.fingerprint !== fingerprint)
        throw mismatch(key, "with the same parameters they were first used with");
      if (existing.response === null) throw inFlight(key);
      return { kind: "replay", response: existing.response };
    }
    const entry: Entry = { endpoint, fingerprint, startedAtMs: this.nowMs(), response: null };
    this.entries.set(key, entry);
    return {
      kind: "proceed",
      finish: (response) => {
        if (response !== null && response.status >= 200 && response.status < 300) entry.response = response;
        else if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    };
  }

  clear(): void {
    this.entries.clear();
  }
}

function mismatch(key: string, rule: string): ApiError {
  return new ApiError(400, {
    type: "idempotency_error",
    message: `Keys for idempotent requests can only be used ${rule}. Try using a key other than '${key}' if you meant to execute a different request.`,
  });
}

function inFlight(key: string): ApiError {
  return new ApiError(409, {
    type: "idempotency_error",
    code: "idempotency_key_in_use",
    message: `There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): ${key}. Please try again later.`,
  });
}

/** Parameters compared structurally, so `payload%5Bvalue%5D` and `payload[value]` or a reordered body match. */
export function fingerprintOf(params: unknown): string {
  return JSON.stringify(params, (_key, value: unknown) =>
    typeof value === "object" && value !== null && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : value,
  );
}
