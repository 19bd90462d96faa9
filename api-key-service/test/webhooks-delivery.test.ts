import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { TestServices } from "@gateway/testing";
import pg from "pg";
import { afterEach, beforeEach } from "vitest";
import { ADMIN_TOKEN, type Api, describe, expect, startApi, test } from "./fixtures.js";
import { verify, WebhookReceiver, waitUntil } from "./webhook-receiver.js";

const FAST_RETRIES = {
  WEBHOOK_ALLOWED_HOSTS: "127.0.0.1,localhost",
  WEBHOOK_POLL_INTERVAL: "50ms",
  WEBHOOK_RETRY_BASE: "100ms",
  WEBHOOK_RETRY_MAX: "300ms",
  WEBHOOK_TIMEOUT: "2s",
};

let receiver: WebhookReceiver;
beforeEach(async () => {
  receiver = await new WebhookReceiver().open();
});
afterEach(async () => {
  await receiver.close();
});

async function withApi(
  services: TestServices,
  env: Record<string, string>,
  run: (api: Api) => Promise<void>,
) {
  const api = await startApi(services, env);
  try {
    await run(api);
  } finally {
    await api.stop();
  }
}

async function deliveriesOf(api: Api, webhookId: string) {
  const res = await api.request("GET", `/api/webhooks/${webhookId}/deliveries`);
  expect(res.status, res.text).toBe(200);
  return res.body.data as any[];
}

describe("a receiver that is down for a while", () => {
  test("answering 503, then gone, then back: retried with back-off and delivered once", async ({
    services,
  }) => {
    await withApi(services, FAST_RETRIES, async (api) => {
      receiver.behaviour = 503;
      const hook = (
        await api.request("POST", "/api/webhooks", { body: { url: receiver.url(), events: ["key.created"] } })
      ).body;
      const key = await api.createKey();

      await receiver.waitFor(() => receiver.received.length >= 3, 10_000, "three refused attempts");
      let [delivery] = await deliveriesOf(api, hook.id);
      expect(delivery).toMatchObject({ status: "pending", last_status_code: 503 });
      expect(delivery.attempts).toBeGreaterThanOrEqual(2);
      expect(delivery.last_error).toContain("503");
      expect(delivery.next_attempt_at).toEqual(expect.any(String));

      // Gone: connections refused.
      await receiver.close();
      const attemptsBefore = delivery.attempts;
      await waitUntil(
        async () => ((await deliveriesOf(api, hook.id))[0]?.attempts ?? 0) >= attemptsBefore + 2,
        10_000,
        "attempts while the receiver is closed",
      );
      [delivery] = await deliveriesOf(api, hook.id);
      expect(delivery).toMatchObject({ status: "pending", last_status_code: null });
      expect(delivery.last_error).toContain("ECONNREFUSED");

      // Back, on the same address.
      receiver.behaviour = 200;
      await receiver.open();
      await receiver.waitFor(() => receiver.delivered().length === 1, 10_000, "the delivery");
      await new Promise((r) => setTimeout(r, 500));
      expect(receiver.delivered()).toHaveLength(1);
      const ids = new Set(receiver.received.map((r) => r.headers["webhook-id"]));
      expect(ids.size).toBe(1);
      const event = verify(hook.secret, receiver.delivered()[0] as any);
      expect(event).toMatchObject({ type: "key.created", data: { key_id: key.id } });
      // Every attempt was signed afresh, and each one verifies.
      for (const r of receiver.received) expect(verify(hook.secret, r).data.key_id).toBe(key.id);

      [delivery] = await deliveriesOf(api, hook.id);
      expect(delivery).toMatchObject({
        status: "delivered",
        last_status_code: 200,
        last_error: null,
        next_attempt_at: null,
        delivered_at: expect.any(String),
      });
      expect(delivery.event_id).toBe([...ids][0]);
    });
  });

  test("a redirect is a failure, and after the retry period the delivery is dead", async ({ services }) => {
    await withApi(services, { ...FAST_RETRIES, WEBHOOK_RETRY_FOR: "1s" }, async (api) => {
      receiver.behaviour = 307;
      const hook = (
        await api.request("POST", "/api/webhooks", { body: { url: receiver.url(), events: ["key.created"] } })
      ).body;
      await api.createKey();
      await waitUntil(
        async () => (await deliveriesOf(api, hook.id))[0]?.status === "dead",
        10_000,
        "the delivery to be dead",
      );
      const [delivery] = await deliveriesOf(api, hook.id);
      expect(delivery).toMatchObject({ status: "dead", last_status_code: 307, next_attempt_at: null });
      expect(delivery.attempts).toBeGreaterThan(1);
      const seen = receiver.received.length;
      await new Promise((r) => setTimeout(r, 400));
      expect(receiver.received).toHaveLength(seen);
      expect(
        (await api.request("GET", `/api/webhooks/${hook.id}/deliveries?status=dead`)).body.data,
      ).toHaveLength(1);
      expect(api.logs.join("")).toContain("webhook delivery dead");
    });
  });

  test("deleting a webhook stops its retries", async ({ services }) => {
    await withApi(services, FAST_RETRIES, async (api) => {
      receiver.behaviour = 500;
      const hook = (
        await api.request("POST", "/api/webhooks", { body: { url: receiver.url(), events: ["key.created"] } })
      ).body;
      await api.createKey();
      await receiver.waitFor(() => receiver.received.length >= 1);
      expect((await api.request("DELETE", `/api/webhooks/${hook.id}`)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 200));
      const seen = receiver.received.length;
      await new Promise((r) => setTimeout(r, 600));
      expect(receiver.received).toHaveLength(seen);
      const [rows] = await api.query("select count(*)::int as n from webhook_deliveries");
      expect(rows.n).toBe(0);
    });
  });
});

describe("two replicas", () => {
  test("share the outbox: every event is delivered once, by one of them", async ({ services }) => {
    const a = await startApi(services, FAST_RETRIES);
    const b = await startApi(services, FAST_RETRIES);
    try {
      const hook = (
        await a.request("POST", "/api/webhooks", { body: { url: receiver.url(), events: ["key.created"] } })
      ).body;
      const keys = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).createKey({ name: `k${i}` })),
      );
      await receiver.waitFor(() => receiver.delivered().length >= 20);
      await new Promise((r) => setTimeout(r, 300));
      expect(receiver.received).toHaveLength(20);
      const delivered = receiver.received.map((r) => verify(hook.secret, r).data.key_id).sort();
      expect(delivered).toEqual(keys.map((k) => k.id).sort());
    } finally {
      await Promise.all([a.stop(), b.stop()]);
    }
  });
});

const entry = fileURLToPath(new URL("../src/run.ts", import.meta.url));

/** The service as its own process, as `node --import tsx src/run.ts` with this environment. */
function startProcess(services: TestServices): {
  child: ChildProcess;
  output: () => string;
  port: Promise<number>;
} {
  const child = spawn(process.execPath, ["--import", "tsx", entry], {
    env: {
      PATH: process.env.PATH ?? "",
      DATABASE_URL: services.databaseUrl,
      REDIS_URL: services.redisUrl,
      REDIS_KEY_PREFIX: services.redisPrefix,
      ADMIN_TOKEN,
      HTTP_PORT: "0",
      GRPC_PORT: "0",
      AUTH_HTTP_PORT: "0",
      HOST: "127.0.0.1",
      ...FAST_RETRIES,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const port = (async () => {
    await waitUntil(
      async () => /"http_port":(\d+)/.test(output),
      20_000,
      `the service to listen:\n${output}`,
    );
    return Number(/"http_port":(\d+)/.exec(output)?.[1]);
  })();
  return { child, output: () => output, port };
}

async function countEvents(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query("select count(*)::int as n from webhook_events")).rows[0].n;
  } finally {
    await client.end();
  }
}

async function call(port: number, method: string, path: string, body?: unknown) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe("a sender killed mid-delivery", () => {
  test("SIGKILL while the receiver holds the request: after a restart, the same webhook-id, never a second", async ({
    services,
  }) => {
    receiver.behaviour = "hold";
    const first = startProcess(services);
    let second: ReturnType<typeof startProcess> | undefined;
    try {
      const port = await first.port;
      const hook = (
        await call(port, "POST", "/api/webhooks", { url: receiver.url(), events: ["key.created"] })
      ).body;
      const key = (await call(port, "POST", "/api/keys", { user_id: "alice", name: "k" })).body;
      await receiver.waitFor(() => receiver.received.length === 1, 10_000, "the held delivery");

      const exited = new Promise((resolve) => first.child.once("exit", resolve));
      first.child.kill("SIGKILL");
      await exited;
      receiver.behaviour = 200;

      second = startProcess(services);
      const port2 = await second.port;
      // The killed attempt's lease runs out (WEBHOOK_TIMEOUT + 5 s), then the new process retries.
      await receiver.waitFor(() => receiver.delivered().length === 1, 20_000, "the retried delivery");
      await new Promise((r) => setTimeout(r, 500));

      expect(receiver.received).toHaveLength(2);
      const ids = new Set(receiver.received.map((r) => r.headers["webhook-id"]));
      expect(ids.size).toBe(1);
      for (const r of receiver.received) expect(verify(hook.secret, r).data.key_id).toBe(key.id);
      const deliveries = (await call(port2, "GET", `/api/webhooks/${hook.id}/deliveries`)).body.data;
      expect(deliveries).toHaveLength(1);
      expect(deliveries[0]).toMatchObject({ status: "delivered", attempts: 2, event_id: [...ids][0] });
      expect(await countEvents(services.databaseUrl)).toBe(1);
      expect(first.output() + second.output()).not.toContain(hook.secret.slice(6));
    } finally {
      first.child.kill("SIGKILL");
      second?.child.kill("SIGKILL");
    }
  }, 60_000);
});
