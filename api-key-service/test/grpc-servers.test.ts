import http2 from "node:http2";
import { UNAUTHENTICATED_MESSAGE } from "@gateway/common";
import { AUTHORIZATION_CHECK_PATH, authMessageType, type CheckRequest } from "@gateway/proto";
import { loadConfig } from "../src/config.js";
import { bearer, envoyCheckRequest } from "./envoy.js";
import { describe, expect, GRPC_SERVERS, type RunningApi, startApi, test } from "./fixtures.js";

/**
 * GRPC_SERVER=grpc-js is the fallback an operator flips to: it must answer as the built-in server
 * does. Two replicas on the same database and Redis prefix, one per server, are sent the same calls;
 * what Envoy reads is compared: HTTP status, grpc-status, the message bytes, and grpc-message as
 * decoded. Left to each server: the content type's spelling (application/grpc or
 * application/grpc+proto), which characters of grpc-message are percent-encoded, and grpc-js's
 * "OK" message on success, which no client reads.
 */

const TOKEN = "gw-internal-0123456789abcdef0123456789abcdef";
const HEALTH_CHECK_PATH = "/grpc.health.v1.Health/Check";

interface Answer {
  status: number;
  grpc: boolean;
  grpcStatus: string | undefined;
  grpcMessage: string | undefined;
  body: string;
}

/** One call on its own connection; headers and trailers merged, the body as hex. */
function call(port: number, path: string, message: Buffer, headers: Record<string, string> = {}) {
  return new Promise<Answer>((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on("error", reject);
    const stream = session.request({
      ":method": "POST",
      ":path": path,
      "content-type": "application/grpc",
      te: "trailers",
      ...headers,
    });
    const prefix = Buffer.alloc(5);
    prefix.writeUInt32BE(message.length, 1);
    stream.end(Buffer.concat([prefix, message]));
    const fields: http2.IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    stream.on("response", (h) => Object.assign(fields, h));
    stream.on("trailers", (h) => Object.assign(fields, h));
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    stream.on("error", reject);
    stream.on("close", () => {
      session.close();
      const grpcStatus = fields["grpc-status"] as string | undefined;
      const message = fields["grpc-message"] as string | undefined;
      resolve({
        status: Number(fields[":status"]),
        grpc: /^application\/grpc(\+proto)?$/.test(fields["content-type"] ?? ""),
        grpcStatus,
        grpcMessage: grpcStatus === "0" || message === undefined ? undefined : decodeURIComponent(message),
        body: Buffer.concat(chunks).toString("hex"),
      });
    });
  });
}

const CheckResponse = authMessageType("envoy.service.auth.v3.CheckResponse");
const encodeCheck = (request: CheckRequest) =>
  Buffer.from(authMessageType("envoy.service.auth.v3.CheckRequest").encode(request).finish());

/** The two servers side by side on the same services; `body` runs with both. */
async function bothServers(
  services: Parameters<typeof startApi>[0],
  env: Record<string, string>,
  body: (h2: RunningApi, grpcJs: RunningApi) => Promise<void>,
) {
  const h2 = await startApi(services, { ...env, GRPC_SERVER: "h2" });
  const grpcJs = await startApi(services, { ...env, GRPC_SERVER: "grpc-js" });
  try {
    await body(h2, grpcJs);
  } finally {
    await Promise.all([h2.stop(), grpcJs.stop()]);
  }
}

describe("GRPC_SERVER=h2 and GRPC_SERVER=grpc-js answer alike", () => {
  test("denials, a malformed CheckRequest and health: the same status and bytes", async ({ services }) => {
    await bothServers(services, {}, async (h2, grpcJs) => {
      const key = await h2.createKey();
      await h2.request("DELETE", `/api/keys/${key.id}`);
      const calls: [string, string, Buffer][] = [
        ["no key", AUTHORIZATION_CHECK_PATH, encodeCheck(envoyCheckRequest())],
        [
          "a malformed key",
          AUTHORIZATION_CHECK_PATH,
          encodeCheck(envoyCheckRequest({ headers: bearer("nope") })),
        ],
        [
          "a revoked key",
          AUTHORIZATION_CHECK_PATH,
          encodeCheck(envoyCheckRequest({ headers: bearer(key.key) })),
        ],
        ["a malformed CheckRequest", AUTHORIZATION_CHECK_PATH, Buffer.from([0xff, 0xff, 0xff])],
        ["health of the server", HEALTH_CHECK_PATH, Buffer.alloc(0)],
        ["health of Authorization", HEALTH_CHECK_PATH, Buffer.from("\n$envoy.service.auth.v3.Authorization")],
        ["health of an unknown service", HEALTH_CHECK_PATH, Buffer.from("\n\u0007unknown")],
      ];
      for (const [label, path, message] of calls) {
        const [a, b] = await Promise.all([
          call(h2.grpcPort, path, message),
          call(grpcJs.grpcPort, path, message),
        ]);
        expect(b, label).toEqual(a);
        expect(a, label).toMatchObject({ status: 200, grpc: true });
      }
      // Unknown methods: both UNIMPLEMENTED (the wording of the message is each server's own).
      const unknown = await Promise.all(
        [h2, grpcJs].map((api) => call(api.grpcPort, "/no.Such/Method", Buffer.alloc(0))),
      );
      expect(unknown.map((a) => a.grpcStatus)).toEqual(["12", "12"]);
    });
  });

  test("with INTERNAL_TOKEN: the same refusal without the token, the same answer with it", async ({
    services,
  }) => {
    await bothServers(services, { INTERNAL_TOKEN: TOKEN }, async (h2, grpcJs) => {
      const message = encodeCheck(envoyCheckRequest());
      const refused: Record<string, string>[] = [
        {},
        { "x-gateway-token": "wrong-token-wrong-token-wrong-token-0000" },
      ];
      for (const headers of refused) {
        const [a, b] = await Promise.all([
          call(h2.grpcPort, AUTHORIZATION_CHECK_PATH, message, headers),
          call(grpcJs.grpcPort, AUTHORIZATION_CHECK_PATH, message, headers),
        ]);
        expect(a).toMatchObject({ grpcStatus: "16", grpcMessage: UNAUTHENTICATED_MESSAGE, body: "" });
        expect(b).toEqual(a);
      }
      // With the token the call is decided: a CheckResponse denying a request without a key.
      const withToken = { "x-gateway-token": TOKEN };
      const [a, b] = await Promise.all([
        call(h2.grpcPort, AUTHORIZATION_CHECK_PATH, message, withToken),
        call(grpcJs.grpcPort, AUTHORIZATION_CHECK_PATH, message, withToken),
      ]);
      expect(a.body).not.toBe("");
      expect(b).toEqual(a);
    });
  });
});

describe("CHECK_REQUEST_DECODER=protobufjs, the fallback, answers as the default reader", () => {
  test("the same answers to denials, allowed checks in both header forms, and a malformed CheckRequest", async ({
    services,
  }) => {
    const wire = await startApi(services, {});
    const library = await startApi(services, { CHECK_REQUEST_DECODER: "protobufjs" });
    try {
      const key = await wire.createKey();
      const scoped = { contextExtensions: { required_scopes: "admin" } };
      const calls: [string, Buffer][] = [
        ["no key", encodeCheck(envoyCheckRequest())],
        ["a malformed key", encodeCheck(envoyCheckRequest({ headers: bearer("nope") }))],
        ["a missing scope", encodeCheck(envoyCheckRequest({ headers: bearer(key.key), ...scoped }))],
        ["a malformed CheckRequest", Buffer.from([0x0a, 0x05, 0x01])],
      ];
      for (const [label, message] of calls) {
        const [a, b] = await Promise.all([
          call(wire.grpcPort, AUTHORIZATION_CHECK_PATH, message),
          call(library.grpcPort, AUTHORIZATION_CHECK_PATH, message),
        ]);
        expect(b, label).toEqual(a);
      }
      // Allowed: the answers differ only in the counts (both count the same key), so compare the code.
      for (const rawHeaders of [false, true]) {
        const message = encodeCheck(envoyCheckRequest({ headers: bearer(key.key), rawHeaders }));
        for (const api of [wire, library]) {
          const answer = await call(api.grpcPort, AUTHORIZATION_CHECK_PATH, message);
          const response = CheckResponse.decode(Buffer.from(answer.body, "hex").subarray(5)) as {
            status?: { code?: number };
            ok_response?: unknown;
          };
          expect(answer.grpcStatus).toBe("0");
          expect(response.status?.code ?? 0).toBe(0);
          expect(response.ok_response).toBeDefined();
        }
      }
    } finally {
      await Promise.all([wire.stop(), library.stop()]);
    }
  });
});

describe("GRPC_MAX_CONNECTION_AGE reaches either server", () => {
  test.for(GRPC_SERVERS)(
    "%s: a connection older than the age gets GOAWAY",
    async (grpcServer, { services }) => {
      const api = await startApi(services, { GRPC_SERVER: grpcServer, GRPC_MAX_CONNECTION_AGE: "1s" });
      const session = http2.connect(`http://127.0.0.1:${api.grpcPort}`);
      session.on("error", () => {});
      try {
        const started = Date.now();
        const code = await new Promise<number>((resolve, reject) => {
          session.once("goaway", (errorCode) => resolve(errorCode));
          setTimeout(() => reject(new Error("no GOAWAY within 5 s")), 5_000);
        });
        expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
        expect(Date.now() - started).toBeGreaterThanOrEqual(800);
      } finally {
        session.destroy();
        await api.stop();
      }
    },
  );
});

describe("GRPC_SERVER and the connection settings", () => {
  const base = {
    DATABASE_URL: "postgres://localhost/x",
    REDIS_URL: "redis://localhost:6379",
    ADMIN_TOKEN: "a".repeat(32),
  };

  test("default to h2, 2h idle, 2m keepalive and no maximum age; 0s turns each off", () => {
    expect(loadConfig(base)).toMatchObject({
      GRPC_SERVER: "h2",
      CHECK_REQUEST_DECODER: "wire",
      GRPC_IDLE_TIMEOUT: 7_200_000,
      GRPC_KEEPALIVE_INTERVAL: 120_000,
      GRPC_MAX_CONNECTION_AGE: 0,
    });
    expect(
      loadConfig({
        ...base,
        GRPC_SERVER: "grpc-js",
        GRPC_IDLE_TIMEOUT: "0s",
        GRPC_MAX_CONNECTION_AGE: "30m",
      }),
    ).toMatchObject({ GRPC_SERVER: "grpc-js", GRPC_IDLE_TIMEOUT: 0, GRPC_MAX_CONNECTION_AGE: 1_800_000 });
  });

  test.each([
    ["GRPC_SERVER", "nghttp2", "must be h2 or grpc-js"],
    ["CHECK_REQUEST_DECODER", "fast", "must be wire or protobufjs"],
    ["GRPC_KEEPALIVE_INTERVAL", "500ms", "must be 0s (off) or at least 1s"],
    ["GRPC_IDLE_TIMEOUT", "soon", "must be a duration"],
  ])("%s=%s is refused, naming the variable", (name, value, message) => {
    expect(() => loadConfig({ ...base, [name]: value })).toThrow(`${name}: ${message}`);
  });
});
