import { METHODS } from "node:http";
import { connect } from "node:net";
import fc from "fast-check";
import { BASE62 } from "../src/ids.js";
import { type Api, describe, expect, test } from "./fixtures.js";
import { bearerHeader, forwardAuth } from "./forward-auth-client.js";

/**
 * Hostile input to the forward-auth endpoint, generated and sent as raw bytes over TCP (whatever a
 * client behind a gateway, or anything else that reaches the port, can send): random methods,
 * request targets, header names and values, repeats and sizes. The service never crashes or hangs,
 * never answers 5xx except the documented misconfiguration (a bad X-Request-Cost: 500), and never
 * answers 2xx without the real key.
 */

interface Exchange {
  /** The first final status line's code, or undefined when the connection closed without one. */
  status: number | undefined;
  text: string;
}

/**
 * Writes the bytes and reads until the first final answer is complete (by its Content-Length) or the
 * server closes. The connection is not half-closed: node drops a request whose client has.
 */
function rawExchange(port: number, bytes: Buffer, method: string): Promise<Exchange> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let received = Buffer.alloc(0);
    const finish = (status: number | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ status, text: received.toString("latin1") });
    };
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within 10 s to ${bytes.subarray(0, 200).toString("latin1")}`));
    }, 10_000);
    socket.on("data", (chunk) => {
      received = Buffer.concat([received, chunk]);
      const answer = finalAnswer(received, method);
      if (answer !== undefined) finish(answer);
    });
    // A server that closes while a large request is still being written resets the connection:
    // what it answered before that is still the answer.
    socket.on("error", () => {});
    socket.on("close", () => finish(finalAnswer(received, method, true)));
    socket.write(bytes);
  });
}

/** The status of the first final (non-1xx) answer once it is complete, else undefined. */
function finalAnswer(bytes: Buffer, method: string, closed = false): number | undefined {
  const text = bytes.toString("latin1");
  let at = 0;
  for (;;) {
    const head = /^HTTP\/1\.1 (\d{3}) [^\r]*\r\n/.exec(text.slice(at));
    if (!head) return undefined;
    const end = text.indexOf("\r\n\r\n", at);
    if (end === -1) return undefined;
    const status = Number(head[1]);
    if (status < 200) {
      at = end + 4;
      continue;
    }
    const length = /\r\ncontent-length: (\d+)\r\n/i.exec(text.slice(at, end + 2));
    const bodyLength = method === "HEAD" || !length ? 0 : Number(length[1]);
    return closed || bytes.length >= end + 4 + bodyLength ? status : undefined;
  }
}

const nastyChar = fc.constantFrom(
  "\u0000",
  "\r",
  "\n",
  "\r\n",
  "\t",
  "\u007f",
  "\u00a0",
  "\u00ff",
  " ",
  ",",
  ":",
  ";",
  '"',
  "%",
  "?",
  "#",
  "/",
  "..",
);
const text = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 30 }) },
  {
    weight: 2,
    arbitrary: fc.string({ unit: fc.oneof(nastyChar, fc.string({ maxLength: 3 })), maxLength: 30 }),
  },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 20 }) },
  // Past node's 16 KB default and around the 64 KB the endpoint accepts.
  { weight: 1, arbitrary: fc.constantFrom(1, 8, 17, 63, 70).map((kb) => "A".repeat(kb * 1024)) },
);
const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const token = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 20 });
/**
 * node's parser knows a fixed list of methods (http.METHODS) and answers any other with 400: every
 * method a gateway forwards in practice is on it. Mostly those, sometimes any token.
 */
const commonMethod = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom(...METHODS) },
  { weight: 1, arbitrary: token },
);
/** The methods the endpoint decides: all node knows but CONNECT, which asks for a tunnel instead. */
const decidedMethod = fc.constantFrom(...METHODS.filter((m) => m !== "CONNECT"));
/** What a request target may hold: RFC 3986 pchar, query and %. */
const targetChars = fc.string({
  unit: fc.constantFrom(..."abcXYZ019-._~!$&'()*+,;=:@/%?"),
  maxLength: 80,
});
const wellFormedTarget = fc.oneof(
  { weight: 3, arbitrary: targetChars.map((t) => `/v1/forward-auth/${t}`) },
  { weight: 2, arbitrary: targetChars.map((t) => `/v1/forward-auth?${t}`) },
  { weight: 1, arbitrary: targetChars.map((t) => `/v1/forward-auth${t}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "*",
      "/",
      "http://gw/v1/forward-auth",
      "//v1/forward-auth",
      "/v1/forward-auth/../x",
    ),
  },
  { weight: 1, arbitrary: targetChars.map((t) => `/${t}`) },
);
/** Header values node accepts: visible ASCII, space, tab and obs-text, of any size. */
const fieldValue = fc.oneof(
  {
    weight: 19,
    arbitrary: fc.string({
      unit: fc.constantFrom(..." \t!\"#%',-./0123456789:;=?ABCXYZ_abcxyz|~\u0080\u00ff"),
      maxLength: 40,
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom(1, 8, 17, 63, 70).map((kb) => "A".repeat(kb * 1024)) },
);
const knownHeaderName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      "Authorization",
      "authorization",
      "X-Api-Key",
      "X-Required-Scopes",
      "X-Request-Cost",
      "X-Forwarded-Uri",
      "X-Forwarded-Method",
      "X-Original-URI",
      "X-Original-Method",
      "X-Gateway-Token",
      "__proto__",
      "constructor",
    ),
  },
  // Framing headers: a wrong value is the parser's to refuse (400, 417), before any decision.
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      "Host",
      "Content-Length",
      "Transfer-Encoding",
      "Connection",
      "Expect",
      "Upgrade",
    ),
  },
  { weight: 3, arbitrary: token },
);

/** What survives as a header value once sent as latin1: tab, visible ASCII, space and obs-text. */
const asFieldValue = (value: string) =>
  [...value]
    .map((c) => String.fromCharCode(c.charCodeAt(0) & 0xff))
    .join("")
    .replace(/[^\t\x20-\x7e\x80-\xff]/g, "");

/**
 * Whether a value would reach the check as the real key after all: once what cannot be sent is
 * dropped (a mangling made of control characters) and HTTP trims the value's edges.
 */
function deliversKey(value: string, realKey: string): boolean {
  return (
    asFieldValue(value)
      .trim()
      .replace(/^bearer\s+/i, "") === realKey
  );
}

/** Credentials that are not the real key: random, shaped like a key, or the real key mangled. */
function notTheKey(realKey: string): fc.Arbitrary<string> {
  const base62 = fc.constantFrom(...BASE62);
  const shaped = fc.string({ unit: base62, minLength: 38, maxLength: 38 }).map((body) => `gw_${body}`);
  const mangled = fc.oneof(
    fc.nat({ max: realKey.length - 1 }).map((n) => realKey.slice(0, n)),
    base62.map((c) => realKey + c),
    fc.constant(`${realKey},${realKey}`),
    fc.constant(realKey.toUpperCase()),
    fc.tuple(fc.nat({ max: realKey.length - 1 }), base62).map(([at, c]) => {
      const swapped = realKey[at] === c ? (c === "a" ? "b" : "a") : c;
      return realKey.slice(0, at) + swapped + realKey.slice(at + 1);
    }),
    nastyChar.map((c) => `${realKey.slice(0, 10)}${c}${realKey.slice(10)}`),
  );
  const key = fc.oneof(shaped, mangled, text);
  return fc.oneof(
    key,
    key.map((k) => `Bearer ${k}`),
    fc.tuple(fc.constantFrom("bearer ", "Basic ", "Bearer\t"), key).map(([s, k]) => s + k),
  );
}

interface HostileRequest {
  method: string;
  target: string;
  headers: [string, string][];
  body: string;
}

/**
 * Three in four requests are well-formed HTTP with hostile content (what reaches the decision);
 * the rest may break the protocol anywhere (what node's parser must refuse on its own).
 */
function hostileRequest(realKey: string): fc.Arbitrary<HostileRequest> {
  return fc.oneof(
    { weight: 3, arbitrary: requestOf(realKey, true) },
    { weight: 1, arbitrary: requestOf(realKey, false) },
  );
}

function requestOf(realKey: string, wellFormed: boolean): fc.Arbitrary<HostileRequest> {
  const value = wellFormed ? fieldValue : fc.oneof(fieldValue, text);
  const name = wellFormed ? knownHeaderName : fc.oneof(knownHeaderName, text);
  const credential = fc.tuple(
    fc.constantFrom("Authorization", "X-Api-Key", "x-api-key"),
    (wellFormed ? notTheKey(realKey).map(asFieldValue) : notTheKey(realKey)).filter(
      (value) => !deliversKey(value, realKey),
    ),
  );
  return fc.record({
    method: wellFormed ? commonMethod : fc.oneof(commonMethod, text),
    target: wellFormed ? wellFormedTarget : fc.oneof(wellFormedTarget, text),
    headers: fc
      .tuple(
        fc.array(fc.tuple(name, value), { maxLength: 10 }),
        fc.array(credential, { maxLength: 3 }),
        // The same header many times over.
        fc.option(fc.tuple(name, value, fc.integer({ min: 2, max: 200 })), { freq: 5 }),
      )
      .map(([random, credentials, repeated]) => {
        const all = [...random, ...credentials];
        if (repeated) for (let i = 0; i < repeated[2]; i++) all.push([repeated[0], repeated[1]]);
        return all;
      }),
    // Bytes after the headers without a Content-Length are a second, pipelined request: the parser
    // refuses it and closes, which would hide the first one's answer.
    body: wellFormed ? fc.constant("") : fc.oneof(fc.constant(""), text),
  });
}

function encode(request: HostileRequest): Buffer {
  const lines = [
    `${request.method} ${request.target} HTTP/1.1`,
    "Host: gw",
    ...request.headers.map(([n, v]) => `${n}: ${v}`),
  ];
  return Buffer.concat([
    Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"),
    Buffer.from(request.body, "latin1"),
  ]);
}

const portOf = (api: Api) => Number(new URL(api.forwardAuthUrl).port);

describe("forward-auth under hostile input", () => {
  test("never crashes, hangs, allows without the key, or answers 5xx but for a bad X-Request-Cost", async ({
    api,
  }) => {
    const key = await api.createKey({ rate_limit_per_minute: 100_000, rate_limit_per_day: 1_000_000 });
    const statuses: Record<number | string, number> = {};
    await fc.assert(
      fc.asyncProperty(hostileRequest(key.key), async (request) => {
        const { status, text } = await rawExchange(portOf(api), encode(request), request.method);
        statuses[status ?? "closed"] = (statuses[status ?? "closed"] ?? 0) + 1;
        // Only CONNECT (a tunnel this server does not offer) is closed without an answer.
        if (status === undefined) {
          expect(request.method, text).toBe("CONNECT");
          return;
        }
        expect(status < 200 || status >= 300, text).toBe(true);
        if (status >= 500) {
          expect(status, text).toBe(500);
          // A HEAD answer has no body to say so.
          if (request.method !== "HEAD") expect(text).toContain('"code":"misconfigured"');
          expect(request.headers.some(([n]) => n.toLowerCase() === "x-request-cost")).toBe(true);
        }
        expect(text).not.toContain(key.key);
      }),
      { numRuns: 300 },
    );
    console.info(`forward-auth hostile input, answers by status: ${JSON.stringify(statuses)}`);
    // Still serving, and nothing above counted against the key.
    const after = await forwardAuth(api.forwardAuthUrl, { headers: [bearerHeader(key.key)] });
    expect(after.status).toBe(200);
    expect(after.headers["x-ratelimit-remaining"]).toBe("99999");
    expect(api.logs.join("\n")).not.toContain(key.key);
  });

  test("the real key is decided whatever the method, path below the endpoint and other headers", async ({
    api,
  }) => {
    const key = await api.createKey({ rate_limit_per_minute: 100_000, rate_limit_per_day: 1_000_000 });
    const reserved = new Set([
      "authorization",
      "x-api-key",
      "x-required-scopes",
      "x-request-cost",
      "host",
      "content-length",
      "transfer-encoding",
      "connection",
      "expect",
      "upgrade",
    ]);
    const visible = fc.string({
      unit: fc.constantFrom(..." \t!\"#$%&'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~"),
      maxLength: 40,
    });
    const pathChars = fc.constantFrom(..."abcXYZ019-._~!$&'()*+,;=:@/%?");
    await fc.assert(
      fc.asyncProperty(
        decidedMethod,
        fc.string({ unit: pathChars, maxLength: 60 }),
        fc.array(
          fc.tuple(
            token.filter((n) => !reserved.has(n.toLowerCase())),
            visible,
          ),
          { maxLength: 20 },
        ),
        fc.boolean(),
        async (verb, rest, headers, asApiKey) => {
          const credential: [string, string] = asApiKey ? ["X-Api-Key", key.key] : bearerHeader(key.key);
          const { status, text } = await rawExchange(
            portOf(api),
            encode({
              method: verb,
              target: `/v1/forward-auth/${rest}`,
              headers: [...headers, credential],
              body: "",
            }),
            verb,
          );
          expect(status, text).toBe(200);
          expect(text).toContain(`x-api-key-id: ${key.id}\r\n`);
        },
      ),
      { numRuns: 200 },
    );
  });
});
