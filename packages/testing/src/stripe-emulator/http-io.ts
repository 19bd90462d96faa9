import type { IncomingMessage, ServerResponse } from "node:http";
import { badRequest, invalidFields } from "./errors.js";
import { emptyObject, parseForm } from "./form.js";

/** Stripe caps request bodies far above anything a meter call sends; this only stops runaway tests. */
const MAX_BODY_BYTES = 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size <= MAX_BODY_BYTES) chunks.push(buffer);
  }
  if (size > MAX_BODY_BYTES) throw badRequest(`Request body larger than ${MAX_BODY_BYTES} bytes.`);
  return Buffer.concat(chunks).toString("utf8");
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * The request's parameters: v1 takes form bodies on POST and the query string on GET (stripe-node
 * sends a form Content-Type on GETs too, with an empty body); v2 takes a JSON body.
 */
export function parseParams(req: IncomingMessage, api: "v1" | "v2", query: string, body: string): unknown {
  if (req.method !== "POST") return parseForm(query);
  const contentType = (header(req, "content-type") ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
  if (body === "" && contentType === "") return emptyObject();
  if (api === "v1") {
    if (contentType !== "application/x-www-form-urlencoded") throw unsupportedContentType(contentType);
    return parseForm(body);
  }
  if (contentType !== "application/json") throw unsupportedContentType(contentType);
  if (body.trim() === "") return {};
  try {
    return JSON.parse(body) as unknown;
  } catch {
    throw invalidFields("The request body is not valid JSON.");
  }
}

function unsupportedContentType(contentType: string) {
  return badRequest(
    `Invalid request: unsupported Content-Type ${contentType || "(none)"}. If error persists and you need assistance, please contact support@stripe.com.`,
  );
}

export function writeJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string>,
): void {
  if (res.destroyed || res.headersSent) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    "Content-Type": "application/json",
    "Content-Length": String(Buffer.byteLength(text)),
  });
  res.end(text);
}

/** Cut the TCP connection with no HTTP answer, as a dying load balancer would. */
export function dropConnection(req: IncomingMessage): void {
  req.socket.destroy();
}
