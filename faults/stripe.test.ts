import { describe, expect, type StripeEmulator, startStripeEmulator, test } from "@gateway/testing";
import { envoyAlsStream, httpEntry } from "../billing-sidecar/test/envoy-als.js";
import { type RunningSidecar, sample, startSidecar } from "../billing-sidecar/test/fixtures.js";

const EVENT = "api_requests";
const KNOWN = ["cus_1", "cus_2", "cus_3", "cus_4"];
/** A customer Stripe does not have: v1 refuses its events for good, the stream drops them later. */
const GONE = "cus_Gone";
const STATUSES = [200, 201, 404, 200, 503, 200, 302];

const PATHS = {
  v1: "/v1/billing/meter_events",
  stream: "/v2/billing/meter_event_stream",
} as const;

interface Outbox {
  identifier: string;
  customer: string;
  window: number;
  value: number;
  status: string;
  attempts: number;
  last_error: string | null;
  /** Milliseconds until its next attempt is due (negative: due). */
  due_in: number;
}

const outbox = (sidecar: RunningSidecar): Promise<Outbox[]> =>
  sidecar.query(
    `select identifier, stripe_customer_id as customer, extract(epoch from window_start)::int as window,
            value::int, status, attempts, last_error,
            (extract(epoch from next_attempt_at - now()) * 1000)::int as due_in
       from stripe_outbox order by id`,
  );

/**
 * Another sender got this event to Stripe first (a replica that died before marking it sent): the
 * same identifier and value, under an Idempotency-Key of its own.
 */
async function sendAsAnotherReplica(emulator: StripeEmulator, row: Outbox): Promise<void> {
  const res = await fetch(`${emulator.url}${PATHS.v1}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${emulator.apiKey}`,
      "content-type": "application/x-www-form-urlencoded",
    },
    body: new URLSearchParams({
      event_name: EVENT,
      "payload[stripe_customer_id]": row.customer,
      "payload[value]": String(row.value),
      identifier: row.identifier,
      timestamp: String(row.window),
    }).toString(),
  });
  expect(res.status, `${res.headers.get("stripe-rate-limited-reason")} ${await res.text()}`).toBe(200);
}

/** Access-log entries for five customers in three closed windows, as long as `flowing()`. */
function startUsage(alsPort: number, windows: number[], flowing: () => boolean) {
  const stream = envoyAlsStream(alsPort);
  const billable = new Map<string, number>();
  const done = (async () => {
    for (let tick = 0; flowing(); tick++) {
      stream.send(
        [...KNOWN, GONE].map((customer, c) => {
          const window = windows[(tick + c) % windows.length] as number;
          const code = STATUSES[(tick * 3 + c) % STATUSES.length] as number;
          if (code < 500)
            billable.set(`${customer} ${window}`, (billable.get(`${customer} ${window}`) ?? 0) + 1);
          // Entries that reach the sidecar late for their window: the outbox sends the difference.
          return httpEntry({
            keyId: `key_${customer}`,
            userId: "u",
            customer,
            code,
            startSeconds: window + 7,
          });
        }),
      );
      await new Promise((r) => setTimeout(r, 40));
    }
    stream.end();
    stream.close();
  })();
  return { billable, done };
}

describe.each(["v1", "stream"] as const)("Stripe failing while usage flows, STRIPE_MODE=%s", (mode) => {
  test("every event reaches Stripe once with the right totals; only permanent refusals are dead letters", {
    timeout: 40_000,
  }, async ({ services }) => {
    const path = PATHS[mode];
    const emulator = await startStripeEmulator({ meters: [{ eventName: EVENT }], customers: KNOWN });
    const sidecar = await startSidecar(services, {
      STRIPE_API_KEY: emulator.apiKey,
      STRIPE_API_BASE: emulator.url,
      STRIPE_METER_EVENT_NAME: EVENT,
      STRIPE_MODE: mode,
      STRIPE_TIMEOUT: "400ms",
      STRIPE_SEND_INTERVAL: "200ms",
    });
    let flowing = true;
    const minute = Math.floor(Date.now() / 60_000) * 60;
    const usage = startUsage(sidecar.alsPort, [minute - 240, minute - 180, minute - 120], () => flowing);
    const injected = { rateLimit: 0, serverError: 0, slow: 0, drop: 0, alreadyExists: 0 };
    const started = Date.now();
    try {
      /** Until every event that met a fault has gone out (new usage keeps adding fresh ones). */
      const recovered = async () => {
        await expect
          .poll(
            async () =>
              emulator.faults.pending() === 0 &&
              (await outbox(sidecar)).every((r) => r.status !== "pending" || r.attempts === 0),
            { timeout: 15_000, interval: 100 },
          )
          .toBe(true);
      };
      /**
       * Once the faults injected so far are used up, takes an event a 429 holds back and hands it to
       * Stripe behind the sidecar's back; injects another 429 while there is none to take (it may have
       * hit the unknown customer, or a call already due).
       */
      const alreadyExists = async () => {
        const deadline = Date.now() + 15_000;
        for (;;) {
          if (emulator.faults.pending() === 0) {
            // Held back by a 429 (which never reaches the endpoint), not yet due, and neither at Stripe
            // already nor in a call Stripe is still working on (a slow one the SDK gave up on).
            const known = new Set(emulator.events().map((e) => e.identifier));
            const working = emulator
              .requests({ path })
              .filter((r) => r.status === null)
              .map((r) => decodeURIComponent(r.body)); // v1 bodies are form-encoded
            const held = (await outbox(sidecar)).find(
              (r) =>
                r.status === "pending" &&
                r.last_error?.includes(" 429: ") &&
                r.customer !== GONE &&
                r.due_in > 300 &&
                !known.has(r.identifier) &&
                !working.some((body) => body.includes(r.identifier)),
            );
            if (held) {
              await sendAsAnotherReplica(emulator, held);
              injected.alreadyExists += 1;
              return held.identifier;
            }
            emulator.faults.rateLimit({ path });
            injected.rateLimit += 1;
          }
          if (Date.now() > deadline)
            throw new Error("no event held back by a 429 to send behind the sidecar");
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await expect.poll(() => emulator.events().length, { timeout: 15_000 }).toBeGreaterThan(0);

      // In turn: each kind of failure alone, then until what it held back has gone out.
      emulator.faults.rateLimit({ path, times: 2 });
      injected.rateLimit += 2;
      await recovered();
      emulator.faults.serverError({ path, times: 3 }); // the SDK retries a 500 twice by itself
      injected.serverError += 3;
      await recovered();
      emulator.faults.slow({ path, delayMs: 1_000 }); // beyond STRIPE_TIMEOUT: the SDK gives up, it commits
      injected.slow += 1;
      await recovered();
      const duplicates = [await alreadyExists()];
      await recovered();

      // Mixed: everything at once.
      emulator.faults.rateLimit({ path });
      emulator.faults.serverError({ path, status: 503, shouldRetry: false });
      emulator.faults.slow({ path, delayMs: 1_000 });
      emulator.faults.drop({ path });
      emulator.faults.serverError({ path });
      emulator.faults.rateLimit({ path, shouldRetry: true });
      Object.assign(injected, {
        rateLimit: injected.rateLimit + 2,
        serverError: injected.serverError + 2,
        slow: injected.slow + 1,
        drop: injected.drop + 1,
      });
      duplicates.push(await alreadyExists());

      // Usage stops; from its last write, the time until Stripe has all of it.
      flowing = false;
      await usage.done;
      const billableSent = [...usage.billable.values()].reduce((a, b) => a + b, 0);
      await expect
        .poll(
          async () =>
            (
              await sidecar.query("select coalesce(sum(billable_requests), 0)::int as n from usage_minutes")
            )[0].n,
          { timeout: 5_000, interval: 50 },
        )
        .toBe(billableSent);
      const lastWrite = Date.now();
      const expected = [...usage.billable].filter(([k]) => !k.startsWith(GONE)).sort();
      const atStripe = () => {
        const sums = new Map<string, number>();
        for (const e of emulator.events()) {
          const k = `${e.customer} ${e.timestamp}`;
          sums.set(k, (sums.get(k) ?? 0) + Number(e.value));
        }
        return [...sums].sort();
      };
      await expect
        .poll(
          async () => {
            await emulator.settled();
            const pending = (await outbox(sidecar)).filter((r) => r.status === "pending").length;
            return { pending, atStripe: atStripe() };
          },
          { timeout: 20_000, interval: 100 },
        )
        .toEqual({ pending: 0, atStripe: expected });
      const deliveredMs = Date.now() - lastWrite;

      const rows = await outbox(sidecar);
      const events = emulator.events();
      const requests = emulator.requests({ path });
      const total = Object.values(injected).reduce((a, b) => a + b, 0);
      console.info(
        `FIGURE stripe-faults ${mode}: ${total} faults injected ${JSON.stringify(injected)}; ` +
          `full delivery ${deliveredMs} ms after the last usage write, ${((Date.now() - started) / 1000).toFixed(1)} s of faults and usage in all`,
      );
      console.info(
        `  ${requests.length} calls (${requests.filter((r) => r.fault !== null).length} met a fault, ${requests.filter((r) => r.replayed).length} replayed, ` +
          `${requests.filter((r) => r.status === 409).length} answered 409 in progress), ${events.length} meter events at Stripe, ` +
          `${rows.length} outbox rows (${rows.filter((r) => r.status === "dead").length} dead)`,
      );

      // Each kind of failure reached the outbox: backed off on 429, retried on errors and on the slow
      // answers the SDK gave up on (whose retries found them already committed, or still running).
      const metrics = await sidecar.metricsText();
      expect(sample(metrics, 'stripe_meter_events_total{result="rate_limited"}')).toBeGreaterThan(0);
      expect(sample(metrics, 'stripe_meter_events_total{result="retry"}')).toBeGreaterThan(0);
      for (const slow of requests.filter((r) => r.fault?.startsWith("slow"))) {
        const again = requests.filter((r) => r.idempotencyKey === slow.idempotencyKey && r !== slow);
        expect(again.length).toBeGreaterThan(0);
      }

      // Once each: no identifier twice, and every delivered row is at Stripe with the value it says.
      const identifiers = events.map((e) => e.identifier);
      expect(new Set(identifiers).size).toBe(identifiers.length);
      const sent = rows.filter((r) => r.status === "sent" && r.customer !== GONE);
      expect(sent.map((r) => [r.identifier, r.value]).sort()).toEqual(
        events.map((e) => [e.identifier, Number(e.value)]).sort(),
      );
      // The events another sender delivered first were answered as already there, and counted once.
      for (const identifier of duplicates) {
        const row = rows.find((r) => r.identifier === identifier);
        expect(row?.status).toBe("sent");
        if (mode === "v1") expect(row?.last_error).toBe("Stripe already had this identifier");
        else
          expect(emulator.errorReports()).toContainEqual(
            expect.objectContaining({ code: "duplicate_identifier", identifier }),
          );
      }
      // Transient failures never dead-letter; the unknown customer is refused for good in v1, and in
      // the stream (validated later by Stripe) is sent and shows up in Stripe's error reports instead.
      const gone = rows.filter((r) => r.customer === GONE);
      const goneBillable = [...usage.billable]
        .filter(([k]) => k.startsWith(GONE))
        .reduce((n, [, v]) => n + v, 0);
      expect(gone.reduce((n, r) => n + r.value, 0)).toBe(goneBillable);
      expect(rows.filter((r) => r.status === "dead").map((r) => r.customer)).toEqual(
        mode === "v1" ? gone.map(() => GONE) : [],
      );
      if (mode === "v1") expect(gone.every((r) => r.last_error?.includes(GONE))).toBe(true);
      else
        expect(
          emulator.errorReports().filter((r) => r.code === "meter_event_customer_not_found").length,
        ).toBeGreaterThanOrEqual(gone.length);
    } finally {
      flowing = false;
      await usage.done.catch(() => {});
      await sidecar.close();
      await emulator.settled();
      await emulator.close();
    }
  });
});
