import { createHash } from "node:crypto";
import net from "node:net";
import Parser from "redis-parser";
import { afterEach, describe, expect, test } from "vitest";
import { RedisRateLimiter, RedisTimeout } from "../src/authz/redis-limiter.js";
import { RedisUnavailable } from "../src/authz/script-connection.js";

/**
 * What the fake answers to one command: a RESP reply, "silent" for nothing, "close" to drop the
 * connection. `connection` counts from 1.
 */
type Answer = (command: string[], connection: number) => string | "silent" | "close";

/** A stand-in Redis for what the real one will not do on demand: stall, drop, refuse, forget scripts. */
class FakeRedis {
  readonly commands: string[][] = [];
  connections = 0;
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();

  constructor(answer: Answer) {
    this.server = net.createServer((socket) => {
      this.connections += 1;
      const connection = this.connections;
      this.sockets.add(socket);
      const parser = new Parser({
        returnReply: (command: string[]) => {
          this.commands.push(command);
          const reply = answer(command, connection);
          if (reply === "close") socket.destroy();
          else if (reply !== "silent") socket.write(reply);
        },
        returnError: () => socket.destroy(),
      });
      socket.on("data", (data) => parser.execute(data));
      socket.on("error", () => {});
    });
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return `redis://127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
  }

  names(): string[] {
    return this.commands.map((c) => c.slice(0, c[0] === "SCRIPT" ? 2 : 1).join(" "));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

const sha1 = (text: string) => createHash("sha1").update(text).digest("hex");
const bulk = (text: string) => `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
/** A Redis that loads scripts and answers every EVALSHA with `evalsha`. */
const redisLike =
  (evalsha: (connection: number) => string | "silent" | "close"): Answer =>
  (command, connection) => {
    if (command[0] === "SCRIPT") return bulk(sha1(command[2] ?? ""));
    if (command[0] === "EVALSHA") return evalsha(connection);
    return "+OK\r\n";
  };
const ALLOWED = "*8\r\n:1\r\n:1\r\n:60000\r\n:1\r\n:86400000\r\n:0\r\n:0\r\n:0\r\n";
const key = (id: string) => ({ id, userId: "user_1" });
const limits = { perMinute: 10, perDay: 100 };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function start(answer: Answer, options: { timeoutMs?: number; credentials?: string } = {}) {
  const fake = new FakeRedis(answer);
  const url = (await fake.listen()).replace(/^redis:\/\//, `redis://${options.credentials ?? ""}`);
  cleanups.push(() => fake.close());
  const errors: string[] = [];
  const limiter = new RedisRateLimiter({
    quotaBaseline: async () => 0,
    url,
    keyPrefix: "t:",
    timeoutMs: options.timeoutMs ?? 100,
    onError: (err) => errors.push(err.message),
  });
  cleanups.push(() => limiter.stop());
  return { fake, limiter, errors };
}

async function until(condition: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("the limiter's Redis connection", () => {
  test("loads the script, then sends each check as EVALSHA with both hash-tagged keys", async () => {
    const { fake, limiter } = await start(redisLike(() => ALLOWED));
    await limiter.start(2_000);
    const result = await limiter.check(key("key_1"), limits, 1_700_000_000_000);
    expect(result).toMatchObject({ allowed: true, source: "redis", minute: { used: 1, limit: 10 } });
    await limiter.check(key("key_2"), limits, 1_700_000_000_001, { cost: 12, consume: false });
    const script = fake.commands[0]?.[2] ?? "";
    // ARGV: now, per-minute limit, per-day limit, cost, consume, the minute and day buckets, and how
    // many checks the call decides.
    expect(fake.commands).toEqual([
      ["SCRIPT", "LOAD", script],
      [
        "EVALSHA",
        sha1(script),
        "2",
        "t:rl:{user_1}:key_1:m",
        "t:rl:{user_1}:key_1:d",
        "1700000000000",
        "10",
        "100",
        "1",
        "1",
        "1700000000",
        "1888888",
        "1",
      ],
      [
        "EVALSHA",
        sha1(script),
        "2",
        "t:rl:{user_1}:key_2:m",
        "t:rl:{user_1}:key_2:d",
        "1700000000001",
        "10",
        "100",
        "12",
        "0",
        "1700000000",
        "1888888",
        "1",
      ],
    ]);
  });

  test("authenticates and selects the database named in the URL before loading the script", async () => {
    const fake = new FakeRedis(redisLike(() => ALLOWED));
    const port = new URL(await fake.listen()).port;
    cleanups.push(() => fake.close());
    const limiter = new RedisRateLimiter({
      quotaBaseline: async () => 0,
      url: `redis://gateway:p%40ss@127.0.0.1:${port}/3`,
      keyPrefix: "",
      timeoutMs: 100,
      onError: () => {},
    });
    cleanups.push(() => limiter.stop());
    await limiter.start(2_000);
    expect(fake.commands.slice(0, 2)).toEqual([
      ["AUTH", "gateway", "p@ss"],
      ["SELECT", "3"],
    ]);
    expect(fake.names()[2]).toBe("SCRIPT LOAD");
  });

  test("a refused AUTH is reported, never ready, and checks fail at once instead of queueing", async () => {
    const { limiter, errors } = await start(
      (command) => (command[0] === "AUTH" ? "-WRONGPASS invalid username-password pair\r\n" : "+OK\r\n"),
      { credentials: ":bad@" },
    );
    await limiter.start(300);
    await until(() => errors.length > 0);
    expect(errors[0]).toMatch(/Redis refused AUTH: WRONGPASS/);
    await expect(limiter.check(key("key_1"), limits, Date.now())).rejects.toBeInstanceOf(RedisUnavailable);
  });

  test("a Redis that accepts but never answers the handshake is left after 2 s and tried again", async () => {
    const { fake, limiter, errors } = await start((command, connection) =>
      connection === 1 ? "silent" : redisLike(() => ALLOWED)(command, connection),
    );
    await limiter.start(100);
    await expect(limiter.check(key("a"), limits, Date.now())).rejects.toBeInstanceOf(RedisUnavailable);
    await until(() => limiter.connection.isReady);
    expect(fake.connections).toBe(2);
    expect(errors[0]).toMatch(/not ready within 2000 ms/);
    expect((await limiter.check(key("a"), limits, Date.now())).allowed).toBe(true);
  });

  test("every check of a batch Redis does not answer fails with RedisTimeout after timeoutMs", async () => {
    const { limiter } = await start(redisLike(() => "silent"));
    await limiter.start(2_000);
    const started = performance.now();
    const results = await Promise.allSettled([
      limiter.check(key("a"), limits, Date.now()),
      limiter.check(key("b"), limits, Date.now()),
    ]);
    const elapsed = performance.now() - started;
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toBeInstanceOf(RedisTimeout);
    }
    // Not before the timeout, and not long after it (checked every timeoutMs / 5).
    expect(elapsed).toBeGreaterThanOrEqual(100);
    expect(elapsed).toBeLessThan(1_000);
  });

  test("checks of one key sharing a call all fail with it; with no node for their slot, at once", async () => {
    const { limiter } = await start(redisLike(() => "silent"));
    await limiter.start(2_000);
    // One key record, as the checker passes for every check of a key.
    const a = key("a");
    const shared = await Promise.allSettled([
      limiter.check(a, limits, Date.now()),
      limiter.check(a, limits, Date.now()),
    ]);
    expect(shared.map((r) => r.status === "rejected" && r.reason instanceof RedisTimeout)).toEqual([
      true,
      true,
    ]);

    // A Redis Cluster whose slot map has no node for the key: nothing is written, every check fails,
    // and a check after a failed one is not left waiting on it.
    const noNode = {
      sha: "0".repeat(40),
      cluster: true,
      isReady: false,
      connect() {},
      close() {},
      once() {},
      nodeFor: () => undefined,
      nodeAt: () => undefined,
      moved() {},
      suspect() {},
    };
    Object.assign(limiter, { connection: noNode });
    const outcome = (check: unknown) =>
      Promise.race([
        Promise.resolve(check).then(
          () => "answered",
          (err: unknown) => (err instanceof RedisUnavailable ? "unavailable" : String(err)),
        ),
        new Promise((resolve) => setTimeout(() => resolve("still waiting"), 1_000)),
      ]);
    const b = key("b");
    const together = [
      outcome(limiter.check(b, limits, Date.now())),
      outcome(limiter.check(b, limits, Date.now())),
    ];
    expect(await Promise.all(together)).toEqual(["unavailable", "unavailable"]);
    expect(await outcome(limiter.check(b, limits, Date.now()))).toBe("unavailable");
  });

  test("a connection that owes replies for 2 s is dropped and made again; answers resume", async () => {
    const { fake, limiter } = await start(redisLike((connection) => (connection === 1 ? "silent" : ALLOWED)));
    await limiter.start(2_000);
    await expect(limiter.check(key("a"), limits, Date.now())).rejects.toBeInstanceOf(RedisTimeout);
    await until(() => fake.connections === 2 && limiter.connection.isReady);
    expect((await limiter.check(key("a"), limits, Date.now())).allowed).toBe(true);
  });

  test("a lost connection fails what it owed, reconnects, reloads the script and serves again", async () => {
    const { fake, limiter } = await start(redisLike((connection) => (connection === 1 ? "close" : ALLOWED)));
    await limiter.start(2_000);
    await expect(limiter.check(key("a"), limits, Date.now())).rejects.toBeInstanceOf(RedisUnavailable);
    await until(() => limiter.connection.isReady);
    expect((await limiter.check(key("a"), limits, Date.now())).allowed).toBe(true);
    expect(fake.names()).toEqual(["SCRIPT LOAD", "EVALSHA", "SCRIPT LOAD", "EVALSHA"]);
  });

  test("NOSCRIPT (Redis flushed its scripts) fails that check and reloads the script", async () => {
    const { fake, limiter } = await start(
      redisLike((connection) => (connection === 1 ? "-NOSCRIPT No matching script.\r\n" : ALLOWED)),
    );
    await limiter.start(2_000);
    await expect(limiter.check(key("a"), limits, Date.now())).rejects.toThrow(/NOSCRIPT/);
    await until(() => fake.connections === 2 && limiter.connection.isReady);
    expect((await limiter.check(key("a"), limits, Date.now())).allowed).toBe(true);
  });

  test("a reply of the wrong shape fails the check rather than deciding from it", async () => {
    const { limiter } = await start(redisLike(() => "*2\r\n:1\r\n:2\r\n"));
    await limiter.start(2_000);
    await expect(limiter.check(key("a"), limits, Date.now())).rejects.toThrow(/unexpected reply/);
  });

  test("a URL that is not redis:// or rediss:// is refused at construction", () => {
    expect(
      () =>
        new RedisRateLimiter({
          quotaBaseline: async () => 0,
          url: "http://127.0.0.1:6379",
          keyPrefix: "",
          timeoutMs: 100,
          onError: () => {},
        }),
    ).toThrow(/redis:\/\/ or rediss:\/\//);
  });
});
