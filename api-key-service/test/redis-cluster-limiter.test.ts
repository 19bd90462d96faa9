import { randomBytes } from "node:crypto";
import {
  freePort,
  type RedisCluster,
  type RedisClusterNode,
  startRedisCluster,
  test,
} from "@gateway/testing";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect } from "vitest";
import { keySlot } from "../src/authz/redis-cluster-slot.js";
import { RedisRateLimiter } from "../src/authz/redis-limiter.js";
import type { LimitOptions, LimitResult, QuotaRequest } from "../src/authz/sliding-window.js";

const T0 = Date.parse("2026-03-10T12:00:00Z");
const QUOTA: QuotaRequest = {
  limit: 2,
  periodStart: Date.parse("2026-03-01T00:00:00Z"),
  periodEnd: Date.parse("2026-04-01T00:00:00Z"),
  block: true,
};
const LIMITS = { perMinute: 3, perDay: 5 };
/** The commands rate-limit.lua runs, which Redis counts in INFO commandstats too. */
const SCRIPT_COMMANDS = new Set([
  "hmget",
  "hget",
  "hincrby",
  "hset",
  "hdel",
  "hexists",
  "pexpire",
  "del",
  "incrby",
  "decrby",
  "get",
]);

/** The cluster of the describe block running now (each starts its own). */
let cluster: RedisCluster;
let client: "own" | "ioredis";
const limiters: RedisRateLimiter[] = [];

/** A limiter on `url` with a fresh key prefix; connected before it is returned. */
async function limiterOn(url: string, prefix = `t:${randomBytes(4).toString("hex")}:`) {
  const errors: string[] = [];
  const limiter = new RedisRateLimiter({
    client,
    url,
    keyPrefix: prefix,
    timeoutMs: 500,
    onError: (err) => errors.push(err.message),
    quotaBaseline: async () => 0,
  });
  limiters.push(limiter);
  await limiter.start(10_000);
  return { limiter, prefix, errors };
}

/** The slot of every key of `userId` (its windows and its quota share the `{user}` tag). */
const slotOf = (prefix: string, userId: string) => keySlot(`${prefix}rl:{${userId}}:key:m`);

/** A user id whose keys live in `slot`. */
function userInSlot(prefix: string, slot: number, avoid = new Set<string>()): string {
  for (let i = 0; ; i++) {
    const user = `user_${i}`;
    if (!avoid.has(user) && slotOf(prefix, user) === slot) return user;
  }
}

/** Calls per command on a node since its last CONFIG RESETSTAT (rejected and failed ones included). */
async function commandCalls(node: RedisClusterNode): Promise<Map<string, number>> {
  const stats = await cluster.cli(node.port, "info", "commandstats");
  const calls = new Map<string, number>();
  for (const [, name, fields] of stats.matchAll(/^cmdstat_(\S+):(.*)$/gm)) {
    const count = (field: string) => Number(new RegExp(`${field}=(\\d+)`).exec(fields ?? "")?.[1] ?? 0);
    calls.set(name ?? "", count("calls") + count("rejected_calls"));
  }
  return calls;
}

async function resetStats(): Promise<void> {
  for (const node of cluster.primaries) if (node.running) await cluster.cli(node.port, "config", "resetstat");
}

/**
 * Moves `slot` and its keys from `from` to `to` as `redis-cli --cluster reshard` does: IMPORTING on
 * the target, MIGRATING on the source, MIGRATE of the keys, then (unless `finish` is false, which
 * leaves the migration half done) SETSLOT NODE on every primary.
 */
async function migrateSlot(slot: number, from: RedisClusterNode, to: RedisClusterNode, finish = true) {
  await cluster.cli(to.port, "cluster", "setslot", String(slot), "importing", from.id);
  await cluster.cli(from.port, "cluster", "setslot", String(slot), "migrating", to.id);
  const keys = (await cluster.cli(from.port, "cluster", "getkeysinslot", String(slot), "1000")).split("\n");
  const present = keys.filter(Boolean);
  if (present.length > 0) {
    const out = await cluster.cli(
      from.port,
      "migrate",
      "127.0.0.1",
      String(to.port),
      "",
      "0",
      "5000",
      "keys",
      ...present,
    );
    expect(out).toBe("OK");
  }
  if (finish) await finishMigration(slot, from, to);
}

async function finishMigration(slot: number, from: RedisClusterNode, to: RedisClusterNode) {
  const others = cluster.primaries.filter((n) => n !== from && n !== to && n.running);
  for (const node of [to, from, ...others]) {
    await cluster.cli(node.port, "cluster", "setslot", String(slot), "node", to.id);
  }
}

/** What a check result says, without the field that names the limiter. */
const decision = ({ source: _source, ...rest }: LimitResult) => rest;

describe.each(["own", "ioredis"] as const)(
  "the limiter on a Redis Cluster (REDIS_LIMITER_CLIENT=%s)",
  (kind) => {
    beforeAll(async () => {
      client = kind;
      cluster = await startRedisCluster({ nodeTimeoutMs: 1_000 });
    }, 60_000);

    afterAll(async () => {
      for (const limiter of limiters.splice(0)) limiter.stop();
      await cluster?.stop();
    });

    // Once: the slot does not depend on the client.
    if (kind === "own")
      test("computes the slot Redis Cluster does for any key, hash tag or not", async () => {
        const keys = fc.sample(
          fc.oneof(
            fc.string({ unit: "grapheme", maxLength: 20 }),
            fc
              .tuple(
                fc.string({ maxLength: 6 }),
                fc.string({ unit: "grapheme", maxLength: 8 }),
                fc.string({ maxLength: 6 }),
              )
              .map(([a, tag, b]) => `${a}{${tag}}${b}`),
          ),
          { numRuns: 60, seed: 7 },
        );
        const port = cluster.primaries[0]?.port ?? 0;
        for (const key of [...keys, "rl:{user_1}:key:m", "{}", "a{}b{c}", "x{ab}c}", "é{ü}"]) {
          expect(keySlot(key), JSON.stringify(key)).toBe(
            Number(await cluster.cli(port, "cluster", "keyslot", key)),
          );
        }
      });

    test("finds the cluster from any seed that answers: past a dead one, or through a replica", async () => {
      const replica = cluster.replica;
      if (!replica) throw new Error("the cluster has no replica");
      const dead = await freePort();
      for (const seeds of [
        `127.0.0.1:${dead},127.0.0.1:${cluster.primaries[1]?.port}`,
        `127.0.0.1:${replica.port}`,
      ]) {
        const { limiter } = await limiterOn(`redis+cluster://${seeds}`);
        const users = Array.from({ length: 12 }, (_, i) => `seeded_${i}`);
        const results = await Promise.all(
          users.map((u) => limiter.check({ id: "key", userId: u }, LIMITS, T0)),
        );
        expect(
          results.map((r) => r.minute.used),
          seeds,
        ).toEqual(users.map(() => 1));
      }
    });

    test("checks of many users on every primary are limited and counted exactly as on one Redis", async ({
      services,
    }) => {
      const onCluster = await limiterOn(cluster.url);
      const onOne = await limiterOn(services.redisUrl, services.redisPrefix);
      const users = Array.from({ length: 60 }, (_, i) => `user_${i}`);
      const owners = new Set(
        await Promise.all(users.map(async (u) => (await cluster.ownerOf(slotOf(onCluster.prefix, u))).port)),
      );
      expect(owners.size).toBe(cluster.primaries.length);

      const options = (i: number): LimitOptions => (i % 2 === 0 ? { quota: QUOTA } : { cost: 1 });
      const run = async (limiter: RedisRateLimiter) => {
        const steps: LimitResult[][] = [];
        for (let step = 0; step < 5; step++) {
          // Every user at once: one batch per node.
          steps.push(
            await Promise.all(
              users.map((u, i) =>
                limiter.check({ id: "key", userId: u }, LIMITS, T0 + step * 100, options(i)),
              ),
            ),
          );
        }
        const used = await Promise.all(
          users.filter((_, i) => i % 2 === 0).map((u) => limiter.quotaUsed(u, QUOTA, T0)),
        );
        return { steps: steps.map((results) => results.map(decision)), used };
      };
      const cluster_ = await run(onCluster.limiter);
      expect(cluster_).toEqual(await run(onOne.limiter));
      // Quota users: 2 admitted (the quota); the others: 3 (the minute limit).
      const admitted = users.map((_, i) => cluster_.steps.filter((step) => step[i]?.allowed).length);
      expect(admitted).toEqual(users.map((_, i) => (i % 2 === 0 ? 2 : 3)));
      expect(cluster_.used).toEqual(users.filter((_, i) => i % 2 === 0).map(() => 2));
    });

    test("each check is one EVALSHA on the primary of its slot, and nothing else", async () => {
      const { limiter, prefix } = await limiterOn(cluster.url);
      const users = Array.from({ length: 90 }, (_, i) => `user_${i}`);
      const expected = new Map<number, number>();
      for (const u of users) {
        const owner = await cluster.ownerOf(slotOf(prefix, u));
        expected.set(owner.port, (expected.get(owner.port) ?? 0) + 2);
      }
      const checkAll = () =>
        Promise.all(users.map((u) => limiter.check({ id: "key", userId: u }, LIMITS, T0, { quota: QUOTA })));
      await checkAll(); // each user's first check also sets their new quota counter (once per period)
      await resetStats();
      await checkAll();
      await checkAll();
      for (const node of cluster.primaries) {
        const calls = await commandCalls(node);
        expect(calls.get("evalsha"), `node ${node.port}`).toBe(expected.get(node.port));
        // Everything else counted is what the script itself runs (or this test's own INFO and CONFIG).
        const others = [...calls.keys()].filter((name) => name !== "evalsha" && !SCRIPT_COMMANDS.has(name));
        // (and what no check causes: ioredis's periodic read of the slot map, on a connection it opens
        // and names for it, and the replica's REPLCONF ACK).
        const own = (name: string) =>
          name === "info" ||
          name.startsWith("config|") ||
          name === "cluster|slots" ||
          name === "client|setname" ||
          name === "replconf";
        expect(others.filter((name) => !own(name))).toEqual([]);
      }
    });

    test("follows MOVED after a slot moved to another primary, then goes there directly", async () => {
      const { limiter, prefix } = await limiterOn(cluster.url);
      const user = "moving_user";
      const slot = slotOf(prefix, user);
      const from = await cluster.ownerOf(slot);
      const to =
        cluster.primaries.find((n) => n !== from && n !== cluster.primaries[0]) ?? cluster.primaries[1];
      if (!to) throw new Error("the cluster has a single primary");
      const check = () =>
        limiter.check({ id: "key", userId: user }, LIMITS, T0, { quota: { ...QUOTA, limit: 10 } });
      expect((await check()).minute.used).toBe(1);
      expect((await check()).minute.used).toBe(2);

      await migrateSlot(slot, from, to);
      await resetStats();
      const moved = await check();
      expect(moved).toMatchObject({ allowed: true, minute: { used: 3 }, quota: { used: 3 } });
      expect((await commandCalls(from)).get("evalsha")).toBe(1); // answered MOVED
      expect((await commandCalls(to)).get("evalsha")).toBe(1);

      expect((await check()).allowed).toBe(false); // the minute limit, counted on the new node
      expect((await commandCalls(from)).get("evalsha")).toBe(1);
      expect((await commandCalls(to)).get("evalsha")).toBe(2);
    });

    test("follows ASK while a slot is being migrated; a user with no keys yet fails until it is done", async () => {
      const { limiter, prefix } = await limiterOn(cluster.url);
      const user = "asked_user";
      const slot = slotOf(prefix, user);
      const newcomer = userInSlot(prefix, slot, new Set([user]));
      const from = await cluster.ownerOf(slot);
      const to =
        cluster.primaries.find((n) => n !== from && n !== cluster.primaries[0]) ?? cluster.primaries[1];
      if (!to) throw new Error("the cluster has a single primary");
      const check = (userId: string) => limiter.check({ id: "key", userId }, LIMITS, T0);
      expect((await check(user)).minute.used).toBe(1);

      await migrateSlot(slot, from, to, false);
      try {
        await resetStats();
        // The source has none of the keys now: it answers ASK, and the target counts on.
        expect(await check(user)).toMatchObject({ allowed: true, minute: { used: 2 } });
        // How ioredis gets there (and whether it falls back to EVAL on the way) is its own business.
        if (kind === "own") {
          expect((await commandCalls(from)).get("evalsha")).toBe(1);
          expect((await commandCalls(to)).get("asking")).toBe(1);
          expect((await commandCalls(to)).get("evalsha")).toBe(1);
        }
        // Still migrating: the slot stays with the source, so the next check is asked again.
        expect(await check(user)).toMatchObject({ allowed: true, minute: { used: 3 } });
        expect(await cluster.cli(to.port, "cluster", "countkeysinslot", String(slot))).toBe("2");
        expect(await cluster.cli(from.port, "cluster", "countkeysinslot", String(slot))).toBe("0");
        // Redis refuses a script whose keys do not all exist in a slot being imported (TRYAGAIN): such a
        // check fails, and the failure mode decides, until the migration is done (ioredis retries it
        // until the limiter's timeout).
        await expect(check(newcomer)).rejects.toThrow(kind === "own" ? /^TRYAGAIN/ : /./);
      } finally {
        await finishMigration(slot, from, to);
      }
      expect((await check(user)).allowed).toBe(false);
      // ioredis may still run the retried call once the migration is done: counted late, never lost.
      const after = await check(newcomer);
      expect(after.allowed).toBe(true);
      if (kind === "own") expect(after.minute.used).toBe(1);
    });

    // These two change which node of the replicated pair is the primary.
    test("a planned failover (CLUSTER FAILOVER on the replica) fails no check", async () => {
      const { limiter, prefix } = await limiterOn(cluster.url);
      const [primary, replica] = await replicatedPair();
      const user = userInSlot(prefix, 0);
      const limits = { perMinute: 10_000, perDay: 100_000 };
      const check = async () => limiter.check({ id: "key", userId: user }, limits, T0);
      let checks = 0;
      const failures: string[] = [];
      let running = true;
      const loop = (async () => {
        while (running) {
          await check().then(
            () => checks++,
            (err: Error) => failures.push(err.message),
          );
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      })();
      try {
        await new Promise((resolve) => setTimeout(resolve, 200));
        await replicated(primary, replica);
        expect(await cluster.cli(replica.port, "cluster", "failover")).toBe("OK");
        await expect
          .poll(async () => (await cluster.ownerOf(0, replica.port)).port, { timeout: 10_000 })
          .toBe(replica.port);
        const before = checks;
        await expect.poll(() => checks, { timeout: 5_000 }).toBeGreaterThan(before + 20); // on the new primary
      } finally {
        running = false;
        await loop;
      }
      expect(failures).toEqual([]);
      expect((await check()).minute.used).toBe(checks + 1);
    });

    test("a primary killed: its checks fail at once while the replica takes over, then count on", async () => {
      const { limiter, prefix } = await limiterOn(cluster.url);
      const [primary, replica] = await replicatedPair();
      const user = userInSlot(prefix, 0);
      const elsewhere = await userOnAnotherNode(prefix, primary);
      const check = (userId: string) =>
        limiter.check({ id: "key", userId }, { perMinute: 100, perDay: 1_000 }, T0, {
          quota: { ...QUOTA, limit: 100 },
        });
      expect((await check(user)).minute.used).toBe(1);
      expect((await check(user)).minute.used).toBe(2);
      await replicated(primary, replica);

      await primary.stop("SIGKILL");
      const killedAt = performance.now();
      const failures = new Map<string, number>();
      let recovered: LimitResult | undefined;
      while (!recovered && performance.now() - killedAt < 20_000) {
        const startedAt = performance.now();
        try {
          recovered = await check(user);
        } catch (err) {
          // Never hangs: each failure comes within the limiter's timeout (500 ms), with slack for a busy machine.
          expect(performance.now() - startedAt).toBeLessThan(1_500);
          const name = (err as Error).constructor.name;
          failures.set(name, (failures.get(name) ?? 0) + 1);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      const recoveredAfterMs = performance.now() - killedAt;
      console.info(
        `checks on the killed primary's slots recovered after ${recoveredAfterMs.toFixed(0)} ms; failures meanwhile: ${JSON.stringify(Object.fromEntries(failures))}`,
      );
      expect(failures.size).toBeGreaterThan(0);
      expect(recovered?.allowed).toBe(true);
      // ioredis retries calls across the failover: one that timed out here may be counted after all.
      if (kind === "own") expect(recovered).toMatchObject({ minute: { used: 3 }, quota: { used: 3 } });
      else expect(recovered?.minute.used).toBeGreaterThanOrEqual(3);
      expect((await cluster.ownerOf(slotOf(prefix, user), replica.port)).port).toBe(replica.port);
      expect((await check(elsewhere)).allowed).toBe(true);
    });
  },
);

/** The first primary and its replica, as they are now: [primary, replica] (slot 0 is theirs). */
async function replicatedPair(): Promise<[RedisClusterNode, RedisClusterNode]> {
  const [first] = cluster.primaries;
  const { replica } = cluster;
  if (!first || !replica) throw new Error("the cluster has no replica");
  const owner = await cluster.ownerOf(0);
  if (owner !== first && owner !== replica) throw new Error("slot 0 is not the replicated pair's");
  return owner === first ? [first, replica] : [replica, first];
}

/** A user whose keys are not on `node`. */
async function userOnAnotherNode(prefix: string, node: RedisClusterNode): Promise<string> {
  for (let i = 0; ; i++) {
    const user = `other_${i}`;
    if ((await cluster.ownerOf(slotOf(prefix, user))).port !== node.port) return user;
  }
}

/** Until the replica has every write its primary has. */
async function replicated(primary: RedisClusterNode, replica: RedisClusterNode): Promise<void> {
  const offset = (info: string, field: string) => Number(new RegExp(`${field}:(\\d+)`).exec(info)?.[1] ?? -1);
  const target = offset(await cluster.cli(primary.port, "info", "replication"), "master_repl_offset");
  const deadline = Date.now() + 5_000;
  const behind = (info: string) =>
    !info.includes("master_link_status:up") || offset(info, "slave_repl_offset") < target;
  while (behind(await cluster.cli(replica.port, "info", "replication"))) {
    if (Date.now() > deadline) throw new Error("the replica did not catch up");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
