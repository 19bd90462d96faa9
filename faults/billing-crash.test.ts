import type { ManagedProcess } from "@gateway/harness";
import { describe, expect, type StripeEmulator, startStripeEmulator, test } from "@gateway/testing";
import { bearer, envoyCheckRequest, metadataOf } from "../api-key-service/test/envoy.js";
import { type RunningApi, startApi } from "../api-key-service/test/fixtures.js";
import { envoyAlsStream, httpEntry } from "../billing-sidecar/test/envoy-als.js";
import { serviceEntry, startServiceProcess } from "./support/service-process.js";

const EVENT = "api_requests";
const FLUSH_MS = 500;
const METER_EVENTS = "/v1/billing/meter_events";

type Entry = ReturnType<typeof httpEntry>;

/**
 * Checks through the real ext_authz service, each allowed one turned into the access-log entry Envoy
 * would write with Check's dynamic metadata (the only identity billing reads).
 */
async function allowedEntries(api: RunningApi, keys: string[]): Promise<Entry[]> {
  const answers = await Promise.all(keys.map((k) => api.check(envoyCheckRequest({ headers: bearer(k) }))));
  return answers.map((answer) => {
    expect(answer.status?.code).toBe(0);
    const md = metadataOf(answer);
    return httpEntry({
      keyId: md.api_key_id,
      userId: md.user_id,
      customer: md.stripe_customer_id,
      code: 200,
    });
  });
}

function startSidecarProcess(databaseUrl: string, emulator: StripeEmulator): ManagedProcess {
  return startServiceProcess(serviceEntry.billingSidecar, {
    DATABASE_URL: databaseUrl,
    ALS_PORT: "0",
    HTTP_PORT: "0",
    HOST: "127.0.0.1",
    USAGE_FLUSH_INTERVAL: `${FLUSH_MS}ms`,
    STRIPE_API_KEY: emulator.apiKey,
    STRIPE_API_BASE: emulator.url,
    STRIPE_METER_EVENT_NAME: EVENT,
    // Each minute's usage goes out while the minute is still filling (every pass sends the difference),
    // so the kill lands among Stripe calls rather than a minute before the first one.
    STRIPE_WINDOW: "1s",
    STRIPE_SETTLE: "0s",
    STRIPE_SEND_INTERVAL: "250ms",
  });
}

const alsPortOf = async (sidecar: ManagedProcess) =>
  Number((await sidecar.waitForOutput(/"als_port":(\d+)/))[1]);

describe("the billing sidecar process killed with SIGKILL mid-stream and restarted", () => {
  test("counts nothing twice, sends nothing twice, and the reconciliation gap equals what was lost", {
    timeout: 40_000,
  }, async ({ services }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }] });
    const api = await startApi(services, { AUTHZ_FLUSH_INTERVAL: "200ms" });
    const sidecars: ManagedProcess[] = [];
    const testStart = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    try {
      const users = { alice: "cus_Alice", bob: "cus_Bob" } as const;
      const keys: Record<string, string> = {};
      const keyIds: Record<string, string> = {};
      for (const [user, customer] of Object.entries(users)) {
        const key = await api.createKey({
          user_id: user,
          stripe_customer_id: customer,
          rate_limit_per_minute: 1_000_000,
          rate_limit_per_day: 1_000_000,
        });
        keys[user] = key.key;
        keyIds[user] = key.id;
      }
      const tick = Object.values(keys).flatMap((k) => Array(5).fill(k) as string[]);
      const sentByKey = new Map<string, number>();
      const count = (entries: Entry[]) => {
        for (const e of entries) {
          const id = e.common_properties?.metadata?.filter_metadata?.["envoy.filters.http.ext_authz"]?.fields
            ?.api_key_id?.stringValue as string;
          sentByKey.set(id, (sentByKey.get(id) ?? 0) + 1);
        }
      };
      const usageTotal = async () =>
        Number((await api.query("select coalesce(sum(requests), 0)::int as n from usage_minutes"))[0].n);

      // 1. Stream steadily into the first sidecar until it has flushed and sent to Stripe.
      const first = startSidecarProcess(services.databaseUrl, emulator);
      sidecars.push(first);
      const stream = envoyAlsStream(await alsPortOf(first));
      const sends: { at: number; entries: number }[] = [];
      let killAt: "not yet" | "armed" | number = "not yet";
      let slowArrivedAt = 0;
      const streamStart = Date.now();
      while (typeof killAt !== "number") {
        const entries = await allowedEntries(api, tick);
        stream.send(entries);
        count(entries);
        sends.push({ at: Date.now(), entries: entries.length });
        await new Promise((r) => setTimeout(r, 10));
        if (Date.now() - streamStart > 15_000) throw new Error("no Stripe call to kill the sidecar during");
        if (killAt === "not yet" && Date.now() - streamStart > 1_500 && emulator.events().length > 0) {
          // The next Stripe call hangs: the kill will land while it is in flight.
          emulator.faults.slow({ path: METER_EVENTS, delayMs: 1_500 });
          killAt = "armed";
        }
        const hanging = emulator.requests({ path: METER_EVENTS }).find((r) => r.fault?.startsWith("slow"));
        if (hanging && slowArrivedAt === 0) slowArrivedAt = Date.now();
        // More usage is flushed after the hanging call's pass began; then, mid-interval, the kill.
        if (hanging && Date.now() - slowArrivedAt > FLUSH_MS * 1.3) {
          expect(hanging.status, "the Stripe call is still in flight").toBeNull();
          first.child.kill("SIGKILL");
          killAt = Date.now();
        }
      }
      await first.exited;
      stream.close();
      const sentBeforeKill = sends.reduce((n, s) => n + s.entries, 0);
      const flushed = await usageTotal();
      const [batches] = await api.query(
        "select coalesce(sum(entries), 0)::int as entries, max(written_at) as last from usage_batches",
      );
      expect(batches.entries).toBe(flushed);
      const lastFlush = (batches.last as Date).getTime();
      const sentSince = (t: number) => sends.filter((s) => s.at > t).reduce((n, s) => n + s.entries, 0);
      const lost = sentBeforeKill - flushed;

      // 2. A new sidecar takes over; Envoy reconnects and goes on streaming.
      const second = startSidecarProcess(services.databaseUrl, emulator);
      sidecars.push(second);
      const again = envoyAlsStream(await alsPortOf(second));
      let sentAfterRestart = 0;
      for (let i = 0; i < 20; i++) {
        const entries = await allowedEntries(api, tick);
        again.send(entries);
        count(entries);
        sentAfterRestart += entries.length;
        await new Promise((r) => setTimeout(r, 10));
      }
      await expect.poll(usageTotal, { timeout: 10_000 }).toBe(flushed + sentAfterRestart);
      // …and stays there: no batch of the first sidecar is replayed, nothing is counted twice.
      await new Promise((r) => setTimeout(r, FLUSH_MS * 2));
      expect(await usageTotal()).toBe(flushed + sentAfterRestart);

      console.info(`FIGURE crash-lost: ${lost} of ${sentBeforeKill} entries (flush interval ${FLUSH_MS} ms)`);
      console.info(
        `  ${sentSince(lastFlush)} were sent after the last flush began, ${sentSince(lastFlush - FLUSH_MS)} since one interval before it; ` +
          `${sentAfterRestart} more after the restart, all counted once`,
      );
      expect(lost).toBeGreaterThan(0);
      expect(lost).toBeGreaterThanOrEqual(sentSince(lastFlush));
      expect(lost).toBeLessThanOrEqual(sentSince(lastFlush - FLUSH_MS));

      // 3. The loss shows where an operator looks: allowed (ext_authz) minus delivered (access log).
      const allowedTotal = sentBeforeKill + sentAfterRestart;
      await expect
        .poll(
          async () =>
            Number((await api.query("select coalesce(sum(allowed), 0)::int as n from authz_counts"))[0].n),
          { timeout: 5_000 },
        )
        .toBe(allowedTotal);
      const range = `from=${testStart.toISOString()}&to=${new Date(Date.now() + 60_000).toISOString()}`;
      let gap = 0;
      for (const user of Object.keys(users)) {
        const report = await api.request("GET", `/api/usage?user_id=${user}&${range}&granularity=minute`);
        expect(report.status).toBe(200);
        const keyId = keyIds[user] as string;
        const delivered = Number(
          (
            await api.query(
              "select coalesce(sum(requests), 0)::int as n from usage_minutes where key_id = $1",
              [keyId],
            )
          )[0].n,
        );
        expect(report.body.totals).toMatchObject({
          allowed: sentByKey.get(keyId),
          requests: delivered,
          gap: (sentByKey.get(keyId) ?? 0) - delivered,
        });
        gap += report.body.totals.gap;
      }
      console.info(`FIGURE crash-gap: GET /api/usage shows a gap of ${gap} (lost ${lost})`);
      expect(gap).toBe(lost);

      // 4. Stripe got the units of every billable request that reached Postgres, each event once.
      const outbox = async () =>
        api.query("select identifier, stripe_customer_id as customer, value::int, status from stripe_outbox");
      const billable = (
        await api.query(
          "select stripe_customer_id as c, sum(billable_units)::int as n from usage_minutes group by 1 order by 1",
        )
      ).map((r) => [r.c, r.n]);
      await expect
        .poll(
          async () => {
            await emulator.settled();
            return {
              pending: (await outbox()).filter((r) => r.status === "pending").length,
              atStripe: emulator
                .totals()
                .map((t) => [t.customer, t.value])
                .sort(),
            };
          },
          { timeout: 15_000, interval: 250 },
        )
        .toEqual({ pending: 0, atStripe: billable });
      const events = emulator.events();
      const identifiers = events.map((e) => e.identifier);
      expect(new Set(identifiers).size).toBe(identifiers.length);
      const rows = await outbox();
      expect(rows.filter((r) => r.status !== "sent")).toEqual([]);
      // Every outbox row is at Stripe once, with the value the outbox says it sent.
      expect(rows.map((r) => [r.identifier, r.value]).sort()).toEqual(
        events.map((e) => [e.identifier, Number(e.value)]).sort(),
      );
      const replays = emulator.requests({ path: METER_EVENTS }).filter((r) => r.replayed).length;
      console.info(
        `FIGURE crash-stripe: ${events.length} meter events, each identifier once; ${replays} answers replayed from an Idempotency-Key after the restart`,
      );
    } finally {
      for (const sidecar of sidecars) await sidecar.stop("SIGKILL");
      await api.stop();
      await emulator.close();
    }
  });
});
