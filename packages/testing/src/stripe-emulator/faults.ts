/** Which requests a fault applies to. Faults are used up in the order they were injected. */
export interface FaultMatch {
  /** How many matching requests get the fault. Default 1. */
  times?: number;
  /** Exact request path (no query string), or a pattern tested against it. Default: any path. */
  path?: string | RegExp;
  /** HTTP method, e.g. `POST`. Default: any method. */
  method?: string;
}

export type FaultAction =
  | { kind: "rate_limit"; shouldRetry: boolean | undefined; reason: string }
  | { kind: "server_error"; status: number; shouldRetry: boolean | undefined }
  | { kind: "slow"; delayMs: number }
  | { kind: "drop"; afterProcessing: boolean };

/**
 * On-demand failures. Status faults (429/5xx) and `drop` before processing model the network or
 * Stripe's edge: the request never reaches the endpoint, so it changes no state and saves nothing
 * under its Idempotency-Key (a retry with the same key is processed normally). `slow` and
 * `drop({ afterProcessing: true })` let the request run.
 */
export interface FaultControls {
  /** 429 with `code: rate_limit`. `shouldRetry` sets `Stripe-Should-Retry` (left out when undefined). */
  rateLimit(options?: FaultMatch & { shouldRetry?: boolean; reason?: string }): void;
  /** 500 (default) or another 5xx `api_error`. `shouldRetry` sets `Stripe-Should-Retry`. */
  serverError(options?: FaultMatch & { status?: number; shouldRetry?: boolean }): void;
  /**
   * The endpoint takes `delayMs` longer. The request holds its Idempotency-Key and its
   * customer/meter slot meanwhile, and its effect commits when the delay ends, even if the
   * client has given up by then.
   */
  slow(options: FaultMatch & { delayMs: number }): void;
  /** Cut the connection without an answer: before processing (default) or after the effect committed. */
  drop(options?: FaultMatch & { afterProcessing?: boolean }): void;
  /** Forget every pending fault. */
  clear(): void;
  /** How many fault uses are still pending. */
  pending(): number;
}

interface QueuedFault {
  action: FaultAction;
  remaining: number;
  path: string | RegExp | undefined;
  method: string | undefined;
}

export class FaultQueue implements FaultControls {
  private queue: QueuedFault[] = [];

  rateLimit(options: FaultMatch & { shouldRetry?: boolean; reason?: string } = {}): void {
    this.push(options, {
      kind: "rate_limit",
      shouldRetry: options.shouldRetry,
      reason: options.reason ?? "global-rate",
    });
  }

  serverError(options: FaultMatch & { status?: number; shouldRetry?: boolean } = {}): void {
    const status = options.status ?? 500;
    if (status < 500 || status > 599) throw new RangeError(`serverError needs a 5xx status, got ${status}`);
    this.push(options, { kind: "server_error", status, shouldRetry: options.shouldRetry });
  }

  slow(options: FaultMatch & { delayMs: number }): void {
    this.push(options, { kind: "slow", delayMs: options.delayMs });
  }

  drop(options: FaultMatch & { afterProcessing?: boolean } = {}): void {
    this.push(options, { kind: "drop", afterProcessing: options.afterProcessing ?? false });
  }

  clear(): void {
    this.queue = [];
  }

  pending(): number {
    return this.queue.reduce((sum, fault) => sum + fault.remaining, 0);
  }

  /** The first pending fault that matches this request, used up by one. */
  take(method: string, path: string): FaultAction | null {
    const fault = this.queue.find((f) => matches(f, method, path));
    if (fault === undefined) return null;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.queue = this.queue.filter((f) => f !== fault);
    return fault.action;
  }

  private push(match: FaultMatch, action: FaultAction): void {
    const times = match.times ?? 1;
    if (!Number.isInteger(times) || times < 1)
      throw new RangeError(`times must be a positive integer, got ${times}`);
    this.queue.push({ action, remaining: times, path: match.path, method: match.method?.toUpperCase() });
  }
}

function matches(fault: QueuedFault, method: string, path: string): boolean {
  if (fault.method !== undefined && fault.method !== method) return false;
  if (fault.path === undefined) return true;
  if (typeof fault.path === "string") return fault.path === path;
  // A /g or /y pattern keeps state between test() calls; every request starts afresh.
  fault.path.lastIndex = 0;
  return fault.path.test(path);
}

export function describeFault(action: FaultAction): string {
  switch (action.kind) {
    case "rate_limit":
      return "rate_limit";
    case "server_error":
      return `server_error:${action.status}`;
    case "slow":
      return `slow:${action.delayMs}ms`;
    case "drop":
      return action.afterProcessing ? "drop:after" : "drop:before";
  }
}
