import type { LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import { Webhook } from "standardwebhooks";
import type { AddressGuard } from "./address-guard.js";

export interface OutgoingMessage {
  /** The event id: the same on every attempt, so that a receiver can drop a repeat. */
  id: string;
  body: string;
}

export type SendOutcome =
  | { ok: true; statusCode: number }
  | { ok: false; statusCode: number | null; error: string };

export interface WebhookSenderOptions {
  guard: AddressGuard;
  /** For the whole attempt: resolving, connecting, and the answer's status and body. */
  timeoutMs: number;
}

/** The most of a receiver's answer read before the connection is closed; the body is not kept. */
const MAX_ANSWER_BYTES = 64 * 1024;

/**
 * POSTs one Standard Webhooks message: signed with the webhook's secret over the id, the attempt's
 * timestamp and the body; sent to the address the guard checked; redirects not followed (a 3xx is
 * a failure like any non-2xx).
 */
export class WebhookSender {
  constructor(private readonly options: WebhookSenderOptions) {}

  async send(
    target: { url: string; secret: string },
    message: OutgoingMessage,
    stop: AbortSignal,
  ): Promise<SendOutcome> {
    const signal = AbortSignal.any([stop, AbortSignal.timeout(this.options.timeoutMs)]);
    const url = new URL(target.url);
    let address: LookupAddress | undefined;
    try {
      address = (await this.options.guard.resolve(url, signal))[0];
    } catch (err) {
      return { ok: false, statusCode: null, error: describe(err, signal, this.options.timeoutMs) };
    }
    if (!address) return { ok: false, statusCode: null, error: "the host did not resolve" };
    const timestamp = new Date();
    const headers = {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(message.body)),
      "user-agent": "api-key-service-webhooks/1",
      "webhook-id": message.id,
      "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
      "webhook-signature": new Webhook(target.secret).sign(message.id, timestamp, message.body),
    };
    try {
      const statusCode = await post(url, headers, message.body, pinnedLookup(address), signal);
      if (statusCode >= 200 && statusCode < 300) return { ok: true, statusCode };
      return { ok: false, statusCode, error: `the receiver answered ${statusCode}` };
    } catch (err) {
      return { ok: false, statusCode: null, error: describe(err, signal, this.options.timeoutMs) };
    }
  }
}

type Lookup = NonNullable<http.RequestOptions["lookup"]>;

/** Answers every lookup with the checked address: the connection cannot go anywhere else. */
function pinnedLookup(address: LookupAddress): Lookup {
  return ((_hostname: string, options: { all?: boolean }, callback: (...args: unknown[]) => void) => {
    if (options?.all) callback(null, [address]);
    else callback(null, address.address, address.family);
  }) as unknown as Lookup;
}

function post(
  url: URL,
  headers: Record<string, string>,
  body: string,
  lookup: Lookup,
  signal: AbortSignal,
): Promise<number> {
  const transport = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    // No agent: a pooled connection could outlive the address check it was made for.
    const req = transport.request(url, { method: "POST", headers, lookup, signal, agent: false }, (res) => {
      let read = 0;
      res.on("data", (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_ANSWER_BYTES) res.destroy();
      });
      res.on("close", () => resolve(res.statusCode ?? 0));
      res.on("error", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end(body);
  });
}

function describe(err: unknown, signal: AbortSignal, timeoutMs: number): string {
  if (signal.aborted) {
    const reason = signal.reason as Error | undefined;
    return reason?.name === "TimeoutError"
      ? `no answer within ${timeoutMs} ms`
      : "interrupted: the service stopped";
  }
  const e = err as NodeJS.ErrnoException;
  return (e?.code ? `${e.code}: ` : "") + (e?.message ?? String(err)).slice(0, 300);
}
