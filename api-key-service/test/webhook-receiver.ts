import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered; null while held open (or never, if the sender went away). */
  answered: number | null;
}

/** How the receiver answers: a status, or "hold" (keep the request open, never answer). */
export type Behaviour = number | "hold";

/**
 * A webhook receiver on 127.0.0.1 for tests: records every request and answers as told. It can be
 * closed and opened again on the same port, as a receiver that goes down and comes back.
 */
export class WebhookReceiver {
  readonly received: Received[] = [];
  behaviour: Behaviour = 200;
  private server: Server | undefined;
  private held: ServerResponse[] = [];
  port = 0;

  async open(): Promise<this> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const entry: Received = {
          path: req.url ?? "",
          headers: req.headers,
          body: Buffer.concat(chunks).toString("utf8"),
          answered: null,
        };
        this.received.push(entry);
        if (this.behaviour === "hold") {
          this.held.push(res);
          return;
        }
        entry.answered = this.behaviour;
        res.writeHead(this.behaviour, { "content-type": "text/plain" }).end("ok");
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  url(path = "/hook"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Stops listening and drops every connection, held ones included: a receiver that went down. */
  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const res of this.held.splice(0)) res.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Requests answered 2xx. */
  delivered(path?: string): Received[] {
    return this.received.filter(
      (r) => r.answered !== null && r.answered < 300 && r.answered >= 200 && (!path || r.path === path),
    );
  }

  async waitFor(predicate: () => boolean, timeoutMs = 10_000, what = "the receiver"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) {
        throw new Error(`timed out waiting for ${what}; received ${JSON.stringify(this.summary())}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  summary() {
    return this.received.map((r) => ({ path: r.path, id: r.headers["webhook-id"], answered: r.answered }));
  }
}

/** Verifies a request as a Standard Webhooks receiver does; throws if the signature is wrong. */
export function verify(secret: string, r: Received): { type: string; timestamp: string; data: any } {
  return new Webhook(secret).verify(r.body, r.headers as Record<string, string>) as any;
}

export async function waitUntil(predicate: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
