import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { afterEach, describe, expect, test } from "vitest";
import { GrpcError, H2GrpcServer, HealthService, Status } from "../src/index.js";

// Raw bytes in and out: the server does not care what the messages are, so the client's
// serializers pass Buffers through.
const raw = {
  path: "/test.Echo/Echo",
  requestStream: false,
  responseStream: false,
  requestSerialize: (b: Buffer) => b,
  requestDeserialize: (b: Buffer) => b,
  responseSerialize: (b: Buffer) => b,
  responseDeserialize: (b: Buffer) => b,
};
const Echo = grpc.makeGenericClientConstructor(
  {
    Echo: raw,
    Fail: { ...raw, path: "/test.Echo/Fail" },
    Crash: { ...raw, path: "/test.Echo/Crash" },
    Hang: { ...raw, path: "/test.Echo/Hang" },
    Missing: { ...raw, path: "/test.Echo/Missing" },
  },
  "Echo",
);
type Unary = (
  req: Buffer,
  meta: grpc.Metadata,
  opts: grpc.CallOptions,
  cb: grpc.requestCallback<Buffer>,
) => void;
type EchoClient = grpc.Client & Record<"Echo" | "Fail" | "Crash" | "Hang" | "Missing", Unary>;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(options: ConstructorParameters<typeof H2GrpcServer>[0] = {}) {
  const handlerErrors: string[] = [];
  const server = new H2GrpcServer({ ...options, onHandlerError: (m) => handlerErrors.push(m) });
  server.addUnary("/test.Echo/Echo", async (request) => Buffer.concat([Buffer.from("echo:"), request]));
  server.addUnary("/test.Echo/Fail", () => {
    throw new GrpcError(Status.NOT_FOUND, "no such thing: ünïcode % 100");
  });
  server.addUnary("/test.Echo/Crash", async () => {
    throw new Error("database password is hunter2");
  });
  server.addUnary("/test.Echo/Hang", () => new Promise<Buffer>(() => {}));
  const port = await server.listen("127.0.0.1", 0);
  cleanups.push(() => server.close(100));
  const client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    "grpc.max_send_message_length": -1,
    "grpc.max_receive_message_length": -1,
  }) as unknown as EchoClient;
  cleanups.push(() => client.close());
  return { server, port, client, handlerErrors };
}

function call(
  client: EchoClient,
  method: keyof EchoClient & string,
  body: Buffer,
  opts: grpc.CallOptions = {},
) {
  return new Promise<{ value?: Buffer; error?: grpc.ServiceError }>((resolve) => {
    (client[method] as Unary).call(client, body, new grpc.Metadata(), opts, (error, value) =>
      resolve({ value: value ?? undefined, error: error ?? undefined }),
    );
  });
}

describe("H2GrpcServer with a grpc-js client", () => {
  test("answers unary calls, concurrently, each with its own answer", async () => {
    const { client } = await start();
    const answers = await Promise.all(
      Array.from({ length: 200 }, (_, i) => call(client, "Echo", Buffer.from(`#${i}`))),
    );
    answers.forEach((answer, i) => {
      expect(answer.error).toBeUndefined();
      expect(answer.value?.toString()).toBe(`echo:#${i}`);
    });
  });

  test("carries a 1 MiB request and answer across many DATA frames and window updates", async () => {
    const { client } = await start();
    const big = Buffer.alloc(1024 * 1024, 7);
    for (let i = 0; i < 3; i++) {
      const answer = await call(client, "Echo", big);
      expect(answer.error).toBeUndefined();
      expect(answer.value?.length).toBe(big.length + 5);
      expect(answer.value?.subarray(5).equals(big)).toBe(true);
    }
  });

  test("refuses a message over the limit with RESOURCE_EXHAUSTED and keeps serving", async () => {
    const { client } = await start({ maxMessageBytes: 64 * 1024 });
    const answer = await call(client, "Echo", Buffer.alloc(64 * 1024 + 1));
    expect(answer.error?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect((await call(client, "Echo", Buffer.from("x"))).value?.toString()).toBe("echo:x");
  });

  test("a GrpcError becomes its status and message; anything else UNKNOWN without details", async () => {
    const { client, handlerErrors } = await start();
    const failed = await call(client, "Fail", Buffer.alloc(0));
    expect(failed.error?.code).toBe(grpc.status.NOT_FOUND);
    expect(failed.error?.details).toBe("no such thing: ünïcode % 100");
    const crashed = await call(client, "Crash", Buffer.alloc(0));
    expect(crashed.error?.code).toBe(grpc.status.UNKNOWN);
    expect(crashed.error?.details).toBe("internal error");
    expect(handlerErrors).toEqual(["/test.Echo/Crash: database password is hunter2"]);
  });

  test("an unknown method is UNIMPLEMENTED", async () => {
    const { client } = await start();
    expect((await call(client, "Missing", Buffer.alloc(0))).error?.code).toBe(grpc.status.UNIMPLEMENTED);
  });

  test("a call past its deadline ends with DEADLINE_EXCEEDED", async () => {
    const { port } = await start();
    // grpc-js enforces deadlines on its own side too, so read the server's answer over raw HTTP/2.
    const session = http2.connect(`http://127.0.0.1:${port}`);
    cleanups.push(() => void session.close());
    const stream = session.request({
      ":method": "POST",
      ":path": "/test.Echo/Hang",
      "content-type": "application/grpc",
      te: "trailers",
      "grpc-timeout": "100m",
    });
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
    const started = performance.now();
    const status = await new Promise<string | undefined>((resolve) => {
      stream.on("response", (h) => h["grpc-status"] && resolve(String(h["grpc-status"])));
      stream.on("trailers", (h) => resolve(String(h["grpc-status"])));
      stream.resume();
    });
    expect(status).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });

  test("close() lets a call in flight finish, then refuses new ones", async () => {
    const server = new H2GrpcServer();
    let release: (() => void) | undefined;
    server.addUnary(
      "/test.Echo/Echo",
      () => new Promise<Buffer>((r) => (release = () => r(Buffer.from("late")))),
    );
    const port = await server.listen("127.0.0.1", 0);
    const client = new Echo(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
    cleanups.push(() => client.close());
    const inFlight = call(client, "Echo", Buffer.from("a"));
    await new Promise((r) => setTimeout(r, 100));
    const closed = server.close(5_000);
    await new Promise((r) => setTimeout(r, 50));
    release?.();
    expect((await inFlight).value?.toString()).toBe("late");
    await closed;
    const after = await call(client, "Echo", Buffer.from("b"), { deadline: Date.now() + 1_000 });
    expect(after.error?.code).toBe(grpc.status.UNAVAILABLE);
  });
});

describe("HealthService", () => {
  test("Check answers known services and NOT_FOUND; Watch streams every change", async () => {
    const server = new H2GrpcServer();
    const health = new HealthService({ "": "SERVING", "my.Service": "NOT_SERVING" });
    health.addToServer(server);
    const port = await server.listen("127.0.0.1", 0);
    cleanups.push(() => server.close(100));
    const Health = grpc.makeClientConstructor(healthService, "Health");
    const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
      Check(
        req: { service: string },
        cb: (err: grpc.ServiceError | null, res?: { status: string }) => void,
      ): void;
      Watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
      close(): void;
    };
    cleanups.push(() => client.close());
    const check = (service: string) =>
      new Promise<string>((resolve) =>
        client.Check({ service }, (err, res) => resolve(err ? `error ${err.code}` : String(res?.status))),
      );
    expect(await check("")).toBe("SERVING");
    expect(await check("my.Service")).toBe("NOT_SERVING");
    expect(await check("other")).toBe(`error ${grpc.status.NOT_FOUND}`);

    const seen: string[] = [];
    const watch = client.Watch({ service: "my.Service" });
    watch.on("error", () => {});
    const twoUpdates = new Promise<void>((resolve) =>
      watch.on("data", (m: { status: string }) => {
        seen.push(m.status);
        if (seen.length === 2) resolve();
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    health.setStatus("my.Service", "SERVING");
    await twoUpdates;
    expect(seen).toEqual(["NOT_SERVING", "SERVING"]);
    watch.cancel();
  });
});
