import type { LookupAddress } from "node:dns";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { AddressGuard, isPublicAddress, RefusedDestination } from "../src/webhooks/address-guard.js";
import { WebhookSender } from "../src/webhooks/webhook-sender.js";
import { verify, WebhookReceiver } from "./webhook-receiver.js";

const SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const v4 = (address: string): LookupAddress => ({ address, family: 4 });
const v6 = (address: string): LookupAddress => ({ address, family: 6 });

let receiver: WebhookReceiver;
beforeEach(async () => {
  receiver = await new WebhookReceiver().open();
});
afterEach(async () => {
  await receiver.close();
});

describe("isPublicAddress", () => {
  test.each([
    "127.0.0.1",
    "127.255.0.1",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.0.1",
    "169.254.169.254",
    "0.0.0.0",
    "100.64.0.1",
    "192.0.2.1",
    "198.51.100.1",
    "224.0.0.1",
    "255.255.255.255",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "64:ff9b::a00:1",
    "2002:7f00:1::",
    "2001:db8::1",
    "ff02::1",
    "not an address",
  ])("%s is not public", (address) => {
    expect(isPublicAddress(address)).toBe(false);
  });

  test.each([
    "93.184.215.14",
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700::1111",
    "2a00:1450:4001::1",
    "::ffff:8.8.8.8",
  ])("%s is public", (address) => {
    expect(isPublicAddress(address)).toBe(true);
  });
});

describe("AddressGuard", () => {
  const guard = (answers: Record<string, LookupAddress[]>, allowedHosts: string[] = []) =>
    new AddressGuard({
      allowedHosts,
      timeoutMs: 1_000,
      resolve: async (host) => {
        const found = answers[host];
        if (!found) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND" });
        return found;
      },
    });

  test("a host is refused if any address it resolves to is not public, or if it does not resolve", async () => {
    const g = guard({
      "public.test": [v4("93.184.215.14"), v6("2606:4700::1111")],
      "mixed.test": [v4("93.184.215.14"), v4("10.0.0.1")],
      "loopback6.test": [v6("::1")],
      "empty.test": [],
    });
    expect(await g.resolve(new URL("https://public.test/x"))).toHaveLength(2);
    for (const host of ["mixed.test", "loopback6.test", "empty.test", "missing.test"]) {
      await expect(g.resolve(new URL(`https://${host}/x`)), host).rejects.toBeInstanceOf(RefusedDestination);
    }
  });

  test("the same message whether the host is private or unknown: no map of the internal network", async () => {
    const g = guard({ "internal.test": [v4("10.1.2.3")] });
    const a = await g.resolve(new URL("https://internal.test/")).catch((e: Error) => e.message);
    const b = await g.resolve(new URL("https://nothing.test/")).catch((e: Error) => e.message);
    expect(a).toBe(b);
    expect(a).not.toContain("10.1.2.3");
  });

  test("listed hosts pass whatever they resolve to; names compare without case or a final dot", async () => {
    const g = guard({ "hook.test": [v4("127.0.0.1")] }, ["HOOK.test", "[::1]", "127.0.0.1"]);
    expect(await g.resolve(new URL("http://hook.test./x"))).toEqual([v4("127.0.0.1")]);
    expect(await g.resolve(new URL("http://[::1]:8080/x"))).toEqual([v6("::1")]);
    expect(await g.resolve(new URL("http://127.0.0.1/x"))).toEqual([v4("127.0.0.1")]);
    await expect(g.resolve(new URL("http://127.0.0.2/x"))).rejects.toBeInstanceOf(RefusedDestination);
  });

  test("a resolver that never answers is refused after the timeout", async () => {
    const g = new AddressGuard({ allowedHosts: [], timeoutMs: 100, resolve: () => new Promise(() => {}) });
    await expect(g.resolve(new URL("https://slow.test/"))).rejects.toBeInstanceOf(RefusedDestination);
  });
});

describe("WebhookSender", () => {
  const message = {
    id: "evt_0000000000000000000001",
    body: JSON.stringify({ type: "key.created", data: {} }),
  };
  const never = new AbortController().signal;

  test("checks the address again at delivery: a host that now resolves to loopback is not called (DNS rebinding)", async () => {
    const answers = [[v4("93.184.215.14")], [v4("127.0.0.1")]];
    const guard = new AddressGuard({
      allowedHosts: [],
      timeoutMs: 1_000,
      resolve: async () => answers.shift() ?? [],
    });
    const url = `http://rebind.test:${receiver.port}/hook`;
    await guard.resolve(new URL(url)); // registration saw a public address
    const sender = new WebhookSender({ guard, timeoutMs: 1_000 });
    const outcome = await sender.send({ url, secret: SECRET }, message, never);
    expect(outcome).toMatchObject({ ok: false, statusCode: null });
    expect(receiver.received).toHaveLength(0);
  });

  test("connects to the address it checked, not to a second resolution's; sends a signed Standard Webhook", async () => {
    // hook.test exists only in this resolver: a second, system lookup would fail.
    const guard = new AddressGuard({
      allowedHosts: ["hook.test"],
      timeoutMs: 1_000,
      resolve: async () => [v4("127.0.0.1")],
    });
    const sender = new WebhookSender({ guard, timeoutMs: 1_000 });
    const outcome = await sender.send(
      { url: `http://hook.test:${receiver.port}/in`, secret: SECRET },
      message,
      never,
    );
    expect(outcome).toEqual({ ok: true, statusCode: 200 });
    const [request] = receiver.received;
    expect(request?.headers.host).toBe(`hook.test:${receiver.port}`);
    expect(request?.headers["webhook-id"]).toBe(message.id);
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(verify(SECRET, request as any)).toEqual(JSON.parse(message.body));
  });

  test("a receiver that holds the request past the timeout is a failure that says so", async () => {
    receiver.behaviour = "hold";
    const guard = new AddressGuard({ allowedHosts: ["127.0.0.1"], timeoutMs: 1_000 });
    const sender = new WebhookSender({ guard, timeoutMs: 200 });
    const outcome = await sender.send({ url: receiver.url(), secret: SECRET }, message, never);
    expect(outcome).toEqual({ ok: false, statusCode: null, error: "no answer within 200 ms" });
  });
});
