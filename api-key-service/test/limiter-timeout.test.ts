import net from "node:net";
import { createRedisClient } from "@gateway/common";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { RedisRateLimiter, RedisTimeout } from "../src/authz/redis-limiter.js";

// A "Redis" that answers the client's ready check (INFO) and then never answers again: what a
// stalled or partitioned Redis looks like to the client.
let silent: net.Server;
let port = 0;
const sockets = new Set<net.Socket>();

beforeAll(async () => {
  silent = net.createServer((socket) => {
    sockets.add(socket);
    const info = "# Server\r\nloading:0\r\n";
    let ready = false;
    socket.on("data", (data: Buffer) => {
      // Commands before the ready check (CLIENT SETINFO) get +OK, INFO gets its answer, the rest nothing.
      for (const command of data.toString("latin1").split(/(?=\*\d+\r\n\$)/)) {
        if (ready || command === "") continue;
        if (/^\*1\r\n\$4\r\ninfo\r\n/i.test(command)) {
          socket.write(`$${info.length}\r\n${info}\r\n`);
          ready = true;
        } else {
          socket.write("+OK\r\n");
        }
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  port = (silent.address() as net.AddressInfo).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

describe("Redis limiter timeout", () => {
  test("every check of a batch Redis does not answer fails with RedisTimeout after timeoutMs", async () => {
    const redis = createRedisClient({ url: `redis://127.0.0.1:${port}`, keyPrefix: "t:" });
    await new Promise<void>((resolve) => redis.once("ready", () => resolve()));
    const limiter = new RedisRateLimiter(redis, 100);
    const limits = { perMinute: 10, perDay: 100 };
    try {
      const started = performance.now();
      const results = await Promise.allSettled([
        limiter.check("a", limits, Date.now()),
        limiter.check("b", limits, Date.now()),
      ]);
      const elapsed = performance.now() - started;
      for (const result of results) {
        expect(result.status).toBe("rejected");
        expect((result as PromiseRejectedResult).reason).toBeInstanceOf(RedisTimeout);
      }
      // Not before the timeout, and not long after it (checked every timeoutMs / 5).
      expect(elapsed).toBeGreaterThanOrEqual(100);
      expect(elapsed).toBeLessThan(1_000);
    } finally {
      redis.disconnect();
    }
  });
});
