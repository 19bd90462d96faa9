import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import {
  INTERNAL_TOKEN_HEADER,
  type InternalTokenCheck,
  type Logger,
  UNAUTHENTICATED_MESSAGE,
} from "@gateway/common";
import type { KeyChecker } from "../authz/check-key.js";
import type { Decision } from "../authz/decision.js";
import type { AuthzMetrics } from "../authz/metrics.js";
import { writeDecision, writeError } from "./answer.js";
import {
  FORWARD_AUTH_PATH,
  headerReader,
  isForwardAuthPath,
  originalRequest,
  toCheckInput,
} from "./request.js";

export interface ForwardAuthOptions {
  checker: KeyChecker;
  /** INTERNAL_TOKEN: when set, only requests carrying it as x-gateway-token are decided, as on the gRPC port. */
  internalToken: InternalTokenCheck;
  metrics: AuthzMetrics;
  logger: Logger;
}

/** What refusals for a missing or wrong gateway token are counted under in grpc_unauthenticated_total. */
const TOKEN_SERVICE_PATH = "/forward-auth/";

/**
 * nginx forwards up to 32 KB of client headers (large_client_header_buffers) and Envoy 60 KB: a
 * client with large cookies must get a decision, not a 431 that nginx would turn into a 500.
 */
const MAX_HEADER_BYTES = 64 * 1024;
/** Longer than the gateways' idle upstream keep-alive (nginx 60 s), so they close first, never mid-reuse. */
const KEEP_ALIVE_MS = 65_000;

const unavailable: Decision = {
  allowed: false,
  reason: "UNAVAILABLE",
  message: "the key service is temporarily unavailable",
  retryAfterSeconds: 1,
};

/**
 * The forward-auth decision endpoint (nginx auth_request, Caddy forward_auth, Traefik forwardAuth,
 * Envoy's HTTP ext_authz): a plain node:http server, as it is on every request. It asks the same
 * KeyChecker as the gRPC Check and answers with the same headers.
 */
export function createForwardAuthServer(options: ForwardAuthOptions): Server {
  const { checker, internalToken, metrics, logger } = options;
  const allowedCount = metrics.checks.labels({ outcome: "allowed", reason: "" });
  const allowedDuration = metrics.duration.series("allowed");

  async function decide(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const header = headerReader(req);
    if (
      internalToken.enabled &&
      !internalToken.allows(TOKEN_SERVICE_PATH, req.headersDistinct[INTERNAL_TOKEN_HEADER] ?? [])
    ) {
      writeError(res, 403, "gateway_token_required", UNAUTHENTICATED_MESSAGE);
      return;
    }
    const started = process.hrtime.bigint();
    let decision: Decision;
    try {
      decision = await checker.check(toCheckInput(header));
    } catch (err) {
      logger.error({ err }, "forward-auth check failed unexpectedly");
      decision = unavailable;
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (decision.allowed) {
      allowedCount.inc();
      allowedDuration.observe(seconds);
    } else {
      metrics.checks.inc({ outcome: "denied", reason: decision.reason });
      metrics.duration.observe("denied", seconds);
      if (logger.isLevelEnabled("debug")) {
        logger.debug({ reason: decision.reason, ...originalRequest(req, header) }, "forward-auth denied");
      }
    }
    writeDecision(res, decision);
  }

  // The Host header plays no part in the decision: a request without one is decided too.
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false }, (req, res) => {
    if (!isForwardAuthPath(req.url)) {
      writeError(res, 404, "not_found", `this port answers ${FORWARD_AUTH_PATH} and the paths below it`);
      return;
    }
    decide(req, res).catch((err) => {
      logger.error({ err }, "forward-auth answer failed");
      res.destroy();
    });
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  return server;
}
