import http2 from "node:http2";
import { afterEach, describe, expect, test } from "vitest";
import { H2GrpcServer, type HeaderList, HealthService, Status } from "../src/index.js";

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server whose one method counts its calls, behind an authenticate hook that records what it saw. */
async function start() {
  const seen: { path: string; headers: HeaderList }[] = [];
  let handled = 0;
  const server = new H2GrpcServer({
    authenticate: (path, headers) => {
      seen.push({ path, headers });
      return (
        path.startsWith("/grpc.health.v1.Health/") || headers.some(([n, v]) => n === "x-token" && v === "ok")
      );
    },
    unauthenticatedMessage: "send x-token",
  });
  server.addUnary("/t.T/Echo", (request) => {
    handled += 1;
    return request;
  });
  new HealthService({ "": "SERVING" }).addToServer(server);
  const port = await server.listen("127.0.0.1", 0);
  cleanups.push(() => server.close(100));
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  cleanups.push(() => void session.close());
  return { seen, handled: () => handled, session };
}

interface Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders | undefined;
  data: Buffer;
}

/** One call; `end: false` keeps the request side open, as a stream that has more to send. */
function call(
  session: http2.ClientHttp2Session,
  path: string,
  extra: Record<string, string | string[]>,
  options: { end?: boolean; body?: Buffer } = {},
): Promise<Answer> {
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc",
    te: "trailers",
    ...extra,
  });
  const answer: Answer = { headers: {}, trailers: undefined, data: Buffer.alloc(0) };
  const chunks: Buffer[] = [];
  stream.on("response", (h) => {
    answer.headers = h;
  });
  stream.on("trailers", (h) => {
    answer.trailers = h;
  });
  stream.on("data", (c: Buffer) => chunks.push(c));
  stream.on("error", () => {});
  stream.write(options.body ?? Buffer.from([0, 0, 0, 0, 1, 42]));
  if (options.end !== false) stream.end();
  return new Promise((resolve) =>
    stream.on("close", () => {
      answer.data = Buffer.concat(chunks);
      resolve(answer);
    }),
  );
}

describe("H2GrpcServer's authenticate hook", () => {
  test("a refused call gets a trailers-only UNAUTHENTICATED as its headers arrive; the handler never runs", async () => {
    const { session, handled } = await start();
    // The request side stays open: the answer must not wait for the message.
    const refused = await call(session, "/t.T/Echo", { "x-token": "wrong" }, { end: false });
    expect(refused.headers[":status"]).toBe(200);
    expect(refused.headers["grpc-status"]).toBe(String(Status.UNAUTHENTICATED));
    expect(refused.headers["grpc-message"]).toBe("send x-token");
    expect(refused.trailers).toBeUndefined();
    expect(refused.data.length).toBe(0);
    expect(handled()).toBe(0);
  });

  test("an accepted call is answered as usual", async () => {
    const { session, handled } = await start();
    const answer = await call(session, "/t.T/Echo", { "x-token": "ok" });
    expect(answer.trailers?.["grpc-status"]).toBe("0");
    expect(answer.data.equals(Buffer.from([0, 0, 0, 0, 1, 42]))).toBe(true);
    expect(handled()).toBe(1);
  });

  test("the hook sees the path and every header, repeated ones included", async () => {
    const { session, seen } = await start();
    await call(session, "/t.T/Echo", { "x-token": ["a", "b"] });
    expect(seen).toHaveLength(1);
    expect(seen[0]?.path).toBe("/t.T/Echo");
    // node's client joins repeated custom headers into one field; either way the hook sees them all.
    const values = seen[0]?.headers.filter(([n]) => n === "x-token").map(([, v]) => v);
    expect(values?.join(", ")).toBe("a, b");
  });

  test("an unknown method is UNIMPLEMENTED before authentication; health is up to the hook", async () => {
    const { session, seen } = await start();
    const missing = await call(session, "/t.T/Missing", {});
    expect(missing.headers["grpc-status"]).toBe(String(Status.UNIMPLEMENTED));
    expect(seen).toEqual([]);
    const health = await call(
      session,
      "/grpc.health.v1.Health/Check",
      {},
      { body: Buffer.from([0, 0, 0, 0, 0]) },
    );
    expect(health.trailers?.["grpc-status"]).toBe("0");
  });

  test("the connection keeps serving after refusals", async () => {
    const { session, handled } = await start();
    for (let i = 0; i < 20; i++)
      await call(session, "/t.T/Echo", { "x-token": `no-${i}` }, { end: i % 2 === 0 });
    expect((await call(session, "/t.T/Echo", { "x-token": "ok" })).trailers?.["grpc-status"]).toBe("0");
    expect(handled()).toBe(1);
  });
});
