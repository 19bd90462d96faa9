import { randomUUID } from "node:crypto";
import type { Logger } from "@gateway/common";
import express, { type NextFunction, type Request, type Response, type Router } from "express";
import type { Counter } from "prom-client";
import Stripe from "stripe";
import { readEvent } from "../stripe-webhooks/event.js";
import type { StripeWebhookService } from "../stripe-webhooks/webhook-service.js";

export interface StripeWebhookOptions {
  /** The endpoint's signing secret (whsec_…) and what applies events; undefined: the route answers 501. */
  secret: string | undefined;
  service: StripeWebhookService | undefined;
  /** stripe_webhook_events_total{type, outcome}. */
  events: Counter<"type" | "outcome">;
  logger: Logger;
}

/** Stripe's events are far smaller; a larger body is refused before it is read. */
const MAX_BODY = "1mb";

/**
 * POST /stripe/webhook. The signature covers the exact bytes Stripe sent, so the body is read raw
 * (this router has no JSON parser, nor has the app) and parsed by the SDK once it is verified.
 */
export function stripeWebhookRouter(options: StripeWebhookOptions): Router {
  const router = express.Router();
  const { secret, service, events, logger } = options;
  if (!secret || !service) {
    // Not 404: the path is right, and Stripe keeps retrying for days, so events sent before the
    // secret is set are still applied once it is.
    router.post("/stripe/webhook", (_req, res) => {
      res.status(501).json({ error: "Stripe webhooks are not configured on this sidecar" });
    });
    return router;
  }
  router.post(
    "/stripe/webhook",
    express.raw({ type: () => true, limit: MAX_BODY }),
    async (req: Request, res: Response) => {
      const started = performance.now();
      const requestId = randomUUID();
      const body: unknown = req.body;
      const signature = req.header("stripe-signature");
      let event: Stripe.Event;
      try {
        if (!Buffer.isBuffer(body) || body.length === 0) throw new Error("no body");
        if (!signature) throw new Error("no Stripe-Signature header");
        event = Stripe.webhooks.constructEvent(body, signature, secret);
      } catch (err) {
        events.inc({ type: "unverified", outcome: "rejected" });
        logger.warn(
          { request_id: requestId, reason: (err as Error).message },
          "stripe webhook refused: the signature or body is not valid",
        );
        res.status(400).json({ error: "the signature or body is not valid" });
        return;
      }
      const read = readEvent(event);
      if (!read) {
        events.inc({ type: "unverified", outcome: "rejected" });
        logger.warn({ request_id: requestId, event_id: event.id }, "stripe webhook refused: not an event");
        res.status(400).json({ error: "the body is not a Stripe event" });
        return;
      }
      const type = service.handles(read.type) ? read.type : "other";
      try {
        const result = await service.apply(read, { requestId, clientIp: req.socket.remoteAddress ?? null });
        events.inc({ type, outcome: result.outcome });
        logger.info(
          {
            request_id: requestId,
            event_id: read.id,
            event_type: read.type,
            stripe_customer_id: read.customerId,
            outcome: result.outcome,
            users_changed: result.usersChanged.length,
            duration_ms: Math.round(performance.now() - started),
          },
          "stripe webhook",
        );
        res.status(200).json({ received: true, outcome: result.outcome });
      } catch (err) {
        // Not recorded: Stripe retries a 5xx, and the retry applies it.
        events.inc({ type, outcome: "failed" });
        logger.error({ err, request_id: requestId, event_id: read.id }, "stripe webhook failed");
        res.status(500).json({ error: "internal error", request_id: requestId });
      }
    },
  );
  // The raw parser's own refusals (a body over MAX_BODY, a broken stream) as JSON, not an HTML page.
  router.use((err: { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    const status = err.status && err.status >= 400 && err.status < 500 ? err.status : 400;
    events.inc({ type: "unverified", outcome: "rejected" });
    res.status(status).json({ error: "the body could not be read" });
  });
  return router;
}
