import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type RunningBackend, startBackend } from "./fixtures.js";

let backend: RunningBackend;
beforeAll(async () => {
  backend = await startBackend();
});
afterAll(() => backend.stop());

const get = (path: string, headers: Record<string, string> = {}) => fetch(backend.url + path, { headers });
// The answers' shapes are what these tests assert.
const json = (res: Response): Promise<any> => res.json();

describe("GET /health", () => {
  test("answers 200 ok", async () => {
    const res = await get("/health");
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({ status: "ok" });
  });
});

describe("GET /hello", () => {
  test("greets the caller the gateway identified, with the key id it passed", async () => {
    const res = await get("/hello", { "x-user-id": "acme", "x-api-key-id": "key_0123456789abcdefghijkl" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await json(res)).toMatchObject({
      message: "Hello, acme!",
      user_id: "acme",
      api_key_id: "key_0123456789abcdefghijkl",
      served_by: expect.any(String),
    });
  });

  test("without identity headers says so rather than inventing one", async () => {
    const body = await json(await get("/hello"));
    expect(body).toMatchObject({ message: "Hello, anonymous caller!", user_id: null, api_key_id: null });
  });
});

describe("GET /admin", () => {
  test("answers with the identity the gateway passed (the scope check happens in Envoy)", async () => {
    const res = await get("/admin", { "x-user-id": "acme", "x-api-key-id": "key_0123456789abcdefghijkl" });
    expect(res.status).toBe(200);
    expect(await json(res)).toEqual({
      area: "admin",
      user_id: "acme",
      api_key_id: "key_0123456789abcdefghijkl",
    });
  });
});

describe("ANY /echo", () => {
  test("returns method, path, query and headers of a GET", async () => {
    const res = await get("/echo?a=1&b=two&b=three", { "x-api-key-id": "key_x" });
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({
      method: "GET",
      path: "/echo",
      query: { a: "1", b: ["two", "three"] },
      body: null,
    });
    expect(body.headers["x-api-key-id"]).toBe("key_x");
  });

  test("echoes a JSON body as JSON, under any sub-path and method", async () => {
    const sent = { name: "widget", tags: ["a", "b"], nested: { n: 1 } };
    const res = await fetch(`${backend.url}/echo/orders/42`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(sent),
    });
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ method: "PUT", path: "/echo/orders/42", body: sent });
  });

  test("echoes a JSON scalar, not only objects", async () => {
    const res = await fetch(`${backend.url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '"just a string"',
    });
    expect((await json(res)).body).toBe("just a string");
  });

  test("echoes any other body as text", async () => {
    const res = await fetch(`${backend.url}/echo`, {
      method: "POST",
      headers: { "content-type": "text/plain; charset=utf-8" },
      body: "héllo, {not json",
    });
    expect(res.status).toBe(200);
    expect((await json(res)).body).toBe("héllo, {not json");
  });

  test("a malformed JSON body is the caller's mistake: 400, not 500", async () => {
    const res = await fetch(`${backend.url}/echo`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"unterminated": ',
    });
    expect(res.status).toBe(400);
    expect(await json(res)).toEqual({
      error: { code: "invalid_json", message: "the body is not valid JSON" },
    });
  });

  test.each([
    ["application/json", (n: number) => `"${"a".repeat(n - 2)}"`],
    ["text/plain", (n: number) => "a".repeat(n)],
  ])("a %s body up to the limit is echoed; one byte more is 413", async (contentType, bodyOf) => {
    const small = await startBackend({ bodyLimitBytes: 1_000 });
    try {
      const send = (n: number) =>
        fetch(`${small.url}/echo`, {
          method: "POST",
          headers: { "content-type": contentType },
          body: bodyOf(n),
        });
      const atLimit = await send(1_000);
      expect(atLimit.status).toBe(200);
      expect((await json(atLimit)).body).toHaveLength(contentType === "text/plain" ? 1_000 : 998);
      const over = await send(1_001);
      expect(over.status).toBe(413);
      expect((await json(over)).error.code).toBe("payload_too_large");
    } finally {
      await small.stop();
    }
  });

  test("the default limit is 100 KB", async () => {
    const res = await fetch(`${backend.url}/echo`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: "a".repeat(100 * 1024 + 1),
    });
    expect(res.status).toBe(413);
  });
});

describe("unknown routes", () => {
  test.each([
    ["GET", "/nope"],
    ["POST", "/hello"],
    ["DELETE", "/health"],
  ])("%s %s answers 404 in JSON", async (method, path) => {
    const res = await fetch(backend.url + path, { method });
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await json(res)).toEqual({
      error: { code: "not_found", message: `no route for ${method} ${path}` },
    });
  });
});

describe("the request log", () => {
  test("has one line per request with method, path and status, and never headers or the query", async () => {
    const secret = "gw_SECRETvalueThatMustNotBeLogged0123456789";
    const before = backend.logs.length;
    await get(`/echo?api_key=${secret}`, { authorization: `Bearer ${secret}`, "x-user-id": "acme" });
    await expect.poll(() => backend.logs.length).toBe(before + 1);
    const line = backend.logs[before];
    expect(line).toMatchObject({ msg: "request", method: "GET", path: "/echo", status: 200 });
    expect(line?.duration_ms).toEqual(expect.any(Number));
    const text = JSON.stringify(backend.logs);
    expect(text).not.toContain(secret);
    expect(text).not.toContain("acme");
  });
});
