import { afterAll, beforeEach, describe, expect, test } from "vitest";
import { type StripeEmulator, startStripeEmulator } from "../src/index.js";

// Input the SDK would never send, over raw HTTP: auth, encodings, content types, unknown URLs.

const emulator: StripeEmulator = await startStripeEmulator({ meters: [{ eventName: "api_requests" }] });
afterAll(() => emulator.close());
beforeEach(() => emulator.reset());

const FORM = { "Content-Type": "application/x-www-form-urlencoded" };
const bearer = { Authorization: `Bearer ${emulator.apiKey}` };

async function call(path: string, init: RequestInit = {}) {
  const res = await fetch(`${emulator.url}${path}`, init);
  const body = (await res.json()) as { error?: Record<string, unknown> } & Record<string, unknown>;
  return { status: res.status, headers: res.headers, body, error: body.error ?? {} };
}
const post = (body: string, headers: Record<string, string> = { ...bearer, ...FORM }) =>
  call("/v1/billing/meter_events", { method: "POST", headers, body });

describe("authentication", () => {
  test("no Authorization header is Stripe's 401 with its error envelope", async () => {
    const res = await post("event_name=api_requests", FORM);

    expect(res.status).toBe(401);
    expect(res.error.type).toBe("invalid_request_error");
    expect(res.error.message).toMatch(/^You did not provide an API key\./);
    expect(res.headers.get("request-id")).toMatch(/^req_/);
  });

  test("an unknown key is a 401 that does not echo the whole key", async () => {
    const key = "sk_live_abcdefghijklmnop1234";
    const res = await post("event_name=api_requests", { ...FORM, Authorization: `Bearer ${key}` });

    expect(res.status).toBe(401);
    expect(res.error.message).toMatch(/^Invalid API Key provided: sk_live_\*+1234$/);
  });

  test("curl-style Basic auth with the key as user name is accepted", async () => {
    const basic = Buffer.from(`${emulator.apiKey}:`).toString("base64");
    const res = await call("/v1/billing/meters", { headers: { Authorization: `Basic ${basic}` } });

    expect(res.status).toBe(200);
  });

  test("the stream wants a session token, not the secret key", async () => {
    const res = await call("/v2/billing/meter_event_stream", {
      method: "POST",
      headers: { ...bearer, "Content-Type": "application/json" },
      body: JSON.stringify({ events: [] }),
    });

    expect(res.status).toBe(401);
  });
});

describe("form bodies", () => {
  test("percent-encoded brackets and + for space parse like raw ones", async () => {
    const res = await post(
      "event_name=api_requests&payload%5Bstripe_customer_id%5D=cus_1&payload%5Bvalue%5D=4&payload%5Bnote%5D=a+b",
    );

    expect(res.status).toBe(200);
    expect(res.body.payload).toEqual({ stripe_customer_id: "cus_1", value: "4", note: "a b" });
    expect(emulator.total("api_requests", "cus_1")).toBe(4);
  });

  test("a JSON body on v1 is an unsupported content type", async () => {
    const res = await post(JSON.stringify({ event_name: "api_requests" }), {
      ...bearer,
      "Content-Type": "application/json",
    });

    expect(res.status).toBe(400);
    expect(res.error.message).toMatch(/^Invalid request: unsupported Content-Type application\/json/);
  });

  test.each([
    [
      "an unknown parameter",
      "event_name=api_requests&payload[value]=1&colour=red",
      "parameter_unknown",
      "colour",
    ],
    [
      "a non-integer timestamp",
      "event_name=api_requests&payload[value]=1&timestamp=soon",
      "parameter_invalid_integer",
      "timestamp",
    ],
    [
      "a missing event_name",
      "payload[stripe_customer_id]=cus_1&payload[value]=1",
      "parameter_missing",
      "event_name",
    ],
  ])("%s is named in the 400", async (_case, body, code, param) => {
    const res = await post(body);

    expect(res.status).toBe(400);
    expect(res.error).toMatchObject({ type: "invalid_request_error", code, param });
  });

  test.each([
    ["an unclosed bracket", "event_name=api_requests&payload[value=1"],
    ["a payload that is not a hash", "event_name=api_requests&payload=1"],
    ["a nested payload value", "event_name=api_requests&payload[value][x]=1"],
    ["broken percent-encoding", "event_name=api_requests&payload[value]=%E0%A4%A"],
  ])("%s is a 400", async (_case, body) => {
    const res = await post(body);

    expect(res.status).toBe(400);
    expect(res.error.type).toBe("invalid_request_error");
    expect(emulator.events()).toHaveLength(0);
  });
});

describe("headers and routing", () => {
  test("Idempotency-Key is echoed and every answer has a Request-Id, errors included", async () => {
    const res = await post("event_name=nope&payload[value]=1", {
      ...bearer,
      ...FORM,
      "Idempotency-Key": "k-1",
    });

    expect(res.status).toBe(400);
    expect(res.headers.get("idempotency-key")).toBe("k-1");
    expect(res.headers.get("request-id")).toMatch(/^req_/);
    expect(res.headers.get("content-type")).toBe("application/json");
  });

  test.each([
    ["POST", "/v1/charges"],
    ["GET", "/v1/billing/meter_events"],
    ["DELETE", "/v1/billing/meters/mtr_1"],
  ])("%s %s is Stripe's 404 for an unrecognized URL", async (method, path) => {
    const res = await call(path, { method, headers: bearer });

    expect(res.status).toBe(404);
    expect(res.error.type).toBe("invalid_request_error");
    expect(res.error.message).toMatch(new RegExp(`^Unrecognized request URL \\(${method}: ${path}\\)\\.`));
  });

  test("invalid JSON on the v2 session endpoint is a 400", async () => {
    const res = await call("/v2/billing/meter_event_session", {
      method: "POST",
      headers: { ...bearer, "Content-Type": "application/json" },
      body: "{not json",
    });

    expect(res.status).toBe(400);
  });
});
