import type { ServerResponse } from "node:http";
import {
  denialBody,
  denialCode,
  denialFields,
  denialStatus,
  type HeaderField,
  identityFields,
  rateLimitFields,
} from "../authz/answer-headers.js";
import type { Decision } from "../authz/decision.js";

/**
 * Writes a decision as the forward-auth answer: 200 with the identity and rate-limit headers, which
 * the gateway copies onto the upstream request and the client's response; or the denial's status,
 * headers and JSON body, which the gateway hands to the client. The headers are the gRPC Check's
 * (authz/answer-headers.ts).
 */
export function writeDecision(res: ServerResponse, decision: Decision): void {
  if (decision.allowed) {
    const fields = identityFields(decision.key);
    fields.push(...rateLimitFields(decision.limits), ["content-length", "0"]);
    res.writeHead(200, fields.flat());
    res.end();
    return;
  }
  writeDenial(
    res,
    denialStatus(decision),
    denialFields(decision),
    denialCode(decision),
    denialBody(decision),
  );
}

/**
 * Any refusal: a status, its headers and a JSON body of the `{"error":{"code","message"}}` shape. The
 * code is a header too, X-Denial-Code: nginx's auth_request never reads the body, and gives the client
 * one with this code (gateways/nginx/nginx.conf).
 */
export function writeDenial(
  res: ServerResponse,
  status: number,
  fields: HeaderField[],
  code: string,
  body: string,
): void {
  res.writeHead(
    status,
    [...fields, ["x-denial-code", code], ["content-length", String(Buffer.byteLength(body))]].flat(),
  );
  res.end(body);
}

/** A refusal that is not a decision (an unknown path, a missing gateway token): the same body shape. */
export function writeError(res: ServerResponse, status: number, code: string, message: string): void {
  writeDenial(
    res,
    status,
    [["content-type", "application/json"]],
    code,
    JSON.stringify({ error: { code, message } }),
  );
}
