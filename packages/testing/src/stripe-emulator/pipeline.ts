import { randomBytes } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import { credentialOf, invalidKey } from "./auth.js";
import type { EmulatorState, HandlerResult } from "./context.js";
import { ApiError, rateLimited, serverError, unrecognizedUrl } from "./errors.js";
import { describeFault, type FaultAction, type FaultQueue } from "./faults.js";
import { dropConnection, header, parseParams, readBody, writeJson } from "./http-io.js";
import { fingerprintOf, type IdempotencyStore } from "./idempotency.js";
import { findRoute } from "./routes.js";
import type { RequestRecord } from "./types.js";

/** The API version answered when the client sends none; stripe@23.1.0 pins this one. */
const DEFAULT_API_VERSION = "2026-10-28.endive";

export interface Pipeline {
  state: EmulatorState;
  faults: FaultQueue;
  idempotency: IdempotencyStore;
  isSecretKey: (key: string) => boolean;
  requests: RequestRecord[];
}

interface Answer extends HandlerResult {
  replayedFrom?: string;
}

/** One HTTP exchange: fault injection, auth, parsing, idempotency, then the endpoint. */
export async function handle(req: IncomingMessage, res: ServerResponse, p: Pipeline): Promise<void> {
  const url = new URL(req.url ?? "/", "http://emulator.invalid");
  const method = (req.method ?? "GET").toUpperCase();
  const idempotencyKey = header(req, "idempotency-key") ?? null;
  const requestId = `req_${randomBytes(8).toString("hex")}`;
  const record: RequestRecord = {
    requestId,
    method,
    path: url.pathname,
    query: url.search.replace(/^\?/, ""),
    body: "",
    idempotencyKey,
    receivedAtMs: p.state.nowMs(),
    status: null,
    replayed: false,
    fault: null,
  };
  p.requests.push(record);
  const fault = p.faults.take(method, url.pathname);
  record.fault = fault === null ? null : describeFault(fault);

  let paused = false;
  const pause = async (extraMs = 0) => {
    if (paused) return;
    paused = true;
    const ms = (fault?.kind === "slow" ? fault.delayMs : 0) + extraMs;
    if (ms > 0) await sleep(ms);
  };

  let answer: Answer;
  try {
    record.body = await readBody(req);
    if (fault?.kind === "drop" && !fault.afterProcessing) {
      record.status = "dropped";
      return dropConnection(req);
    }
    answer = injected(fault) ?? (await respond(req, record, pause, p));
  } catch (error) {
    answer = errorAnswer(error);
  }
  // A slow fault delays every answer, also those that failed before the endpoint ran.
  await pause();
  if (fault?.kind === "drop") {
    record.status = "dropped";
    return dropConnection(req);
  }
  const headers: Record<string, string> = {
    "Request-Id": requestId,
    "Stripe-Version": header(req, "stripe-version") ?? DEFAULT_API_VERSION,
    ...(idempotencyKey === null ? {} : { "Idempotency-Key": idempotencyKey }),
    ...answer.headers,
  };
  if (answer.replayedFrom !== undefined) {
    record.replayed = true;
    headers["Idempotent-Replayed"] = "true";
    headers["Original-Request"] = answer.replayedFrom;
  }
  record.status = answer.status;
  writeJson(res, answer.status, answer.body, headers);
}

async function respond(
  req: IncomingMessage,
  record: RequestRecord,
  pause: (extraMs?: number) => Promise<void>,
  p: Pipeline,
): Promise<Answer> {
  const { method, idempotencyKey } = record;
  const match = findRoute(method, record.path);
  const credential = credentialOf(header(req, "authorization"));
  if (match === null) {
    if (!p.isSecretKey(credential)) throw invalidKey(credential);
    throw unrecognizedUrl(method, record.path);
  }
  const { route, pathParams } = match;
  if (route.auth === "secret_key" && !p.isSecretKey(credential)) throw invalidKey(credential);
  if (route.auth === "session_token") {
    if (!p.state.sessions.isSessionToken(credential)) throw invalidKey(credential);
    p.state.sessions.assertLive(credential);
  }
  const params = parseParams(req, route.api, record.query, record.body);
  const run = () =>
    route.handler({ method, path: record.path, pathParams, params, credential, pause }, p.state);
  // Stripe ignores Idempotency-Key on GET and DELETE.
  if (method !== "POST" || idempotencyKey === null) return run();

  const outcome = p.idempotency.begin(idempotencyKey, `${method} ${record.path}`, fingerprintOf(params));
  if (outcome.kind === "replay") {
    const { status, body: saved, headers, requestId } = outcome.response;
    return { status, body: saved, headers, replayedFrom: requestId };
  }
  try {
    const result = await run();
    const { status, body, headers = {} } = result;
    outcome.finish({ status, body, headers, requestId: record.requestId });
    return result;
  } catch (error) {
    outcome.finish(null);
    throw error;
  }
}

/** Faults that answer in place of the endpoint; they never reach it, so nothing is saved or counted. */
function injected(fault: FaultAction | null): Answer | null {
  if (fault?.kind === "rate_limit")
    return errorAnswer(rateLimited(fault.reason, shouldRetry(fault.shouldRetry)));
  if (fault?.kind === "server_error")
    return errorAnswer(serverError(fault.status, shouldRetry(fault.shouldRetry)));
  return null;
}

const shouldRetry = (value: boolean | undefined): Record<string, string> =>
  value === undefined ? {} : { "Stripe-Should-Retry": String(value) };

function errorAnswer(error: unknown): Answer {
  if (error instanceof ApiError) return { status: error.status, body: error.body(), headers: error.headers };
  // A bug in the emulator: answer like Stripe's 500, with the cause visible in the SDK's error message.
  const message = error instanceof Error ? error.message : String(error);
  return {
    status: 500,
    body: { error: { type: "api_error", message: `Stripe emulator failure: ${message}` } },
  };
}
