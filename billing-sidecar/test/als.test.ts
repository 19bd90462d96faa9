import { envoyAlsStream, httpEntry } from "./envoy-als.js";
import { describe, expect, sample, test } from "./fixtures.js";

const MINUTE = Math.floor(Date.UTC(2026, 10, 21, 10, 15, 0) / 1000);

async function usageOf(sidecar: { query(text: string, values?: unknown[]): Promise<any[]> }, keyId: string) {
  return sidecar.query(
    `select extract(epoch from minute)::int as minute, user_id, stripe_customer_id, requests::int, billable_requests::int,
            billable_units::int, bytes_in::int, bytes_out::int, status_2xx::int, status_3xx::int, status_4xx::int, status_5xx::int
       from usage_minutes where key_id = $1 order by minute`,
    [keyId],
  );
}

describe("StreamAccessLogs", () => {
  test("several streams, identifier on the first message only, roll up per key and minute", async ({
    sidecar,
  }) => {
    const streams = Array.from({ length: 4 }, (_, i) => envoyAlsStream(sidecar.alsPort, `envoy-${i}`));
    for (let round = 0; round < 3; round++) {
      for (const stream of streams) {
        stream.send([
          httpEntry({
            keyId: "key_a",
            userId: "acme",
            customer: "cus_A",
            code: 200,
            startSeconds: MINUTE + round,
          }),
          httpEntry({ keyId: "key_b", userId: "bob", code: 404, startSeconds: MINUTE + 61 }),
        ]);
      }
    }
    await expect
      .poll(() => sidecar.metricsText().then((m) => sample(m, 'als_entries_total{result="billed"}')))
      .toBe(24);
    await sidecar.flush();
    expect(await usageOf(sidecar, "key_a")).toEqual([
      {
        minute: MINUTE,
        user_id: "acme",
        stripe_customer_id: "cus_A",
        requests: 12,
        billable_requests: 12,
        billable_units: 12, // no units in the metadata: one each
        bytes_in: 12 * 150,
        bytes_out: 12 * 122,
        status_2xx: 12,
        status_3xx: 0,
        status_4xx: 0,
        status_5xx: 0,
      },
    ]);
    expect(await usageOf(sidecar, "key_b")).toMatchObject([
      { minute: MINUTE + 60, requests: 12, billable_requests: 12, status_4xx: 12, stripe_customer_id: null },
    ]);
    expect(sample(await sidecar.metricsText(), "als_streams_active")).toBe(4);
    expect(sidecar.logs.join("").match(/access-log stream opened/g)).toHaveLength(4);
    for (const stream of streams) {
      expect(stream.answered()).toBe("no answer"); // the server never answers an open stream
      stream.cancel();
      stream.close();
    }
  });

  test("denied, identity-less (health checks), 5xx, response-less, duplicate and TCP entries are not billed", async ({
    sidecar,
  }) => {
    const stream = envoyAlsStream(sidecar.alsPort);
    const repeated = httpEntry({
      keyId: "key_c",
      userId: "carol",
      code: 200,
      requestId: "req-1",
      startSeconds: MINUTE,
    });
    stream.send([
      httpEntry({ keyId: "key_c", userId: "carol", code: 429, denied: "rate_limited", startSeconds: MINUTE }),
      httpEntry({ code: 200, path: "/health", startSeconds: MINUTE }),
      httpEntry({ keyId: "key_c", userId: "carol", code: 503, startSeconds: MINUTE }),
      httpEntry({ keyId: "key_c", userId: "carol", startSeconds: MINUTE }),
      repeated,
      repeated,
    ]);
    stream.sendTcp(3);
    await expect
      .poll(() => sidecar.metricsText().then((m) => sample(m, 'als_entries_total{result="duplicate"}')))
      .toBe(1);
    const metrics = await sidecar.metricsText();
    expect(sample(metrics, 'als_entries_total{result="denied"}')).toBe(1);
    expect(sample(metrics, 'als_entries_total{result="no_identity"}')).toBe(1);
    expect(sample(metrics, 'als_entries_total{result="not_billable"}')).toBe(2);
    expect(sample(metrics, 'als_entries_total{result="billed"}')).toBe(1);
    expect(sample(metrics, 'als_entries_total{result="tcp_ignored"}')).toBe(3);
    await sidecar.flush();
    expect(await usageOf(sidecar, "key_c")).toMatchObject([
      { requests: 3, billable_requests: 1, billable_units: 1, status_2xx: 1, status_5xx: 1, status_4xx: 0 },
    ]);
    stream.cancel();
    stream.close();
  });

  test("a stream that Envoy resets is replaced by a new one with its identifier again", async ({
    sidecar,
  }) => {
    const first = envoyAlsStream(sidecar.alsPort, "edge-1");
    first.send([httpEntry({ keyId: "key_d", userId: "dan", code: 200, startSeconds: MINUTE })]);
    await expect
      .poll(() => sidecar.metricsText().then((m) => sample(m, 'als_entries_total{result="billed"}')))
      .toBe(1);
    first.cancel();
    await expect.poll(() => sidecar.metricsText().then((m) => sample(m, "als_streams_active"))).toBe(0);
    const second = envoyAlsStream(sidecar.alsPort, "edge-1");
    second.send([httpEntry({ keyId: "key_d", userId: "dan", code: 200, startSeconds: MINUTE })]);
    second.end(); // Envoy shutting down: the only time a stream is answered
    expect(await second.done).toEqual({});
    await sidecar.flush();
    expect(await usageOf(sidecar, "key_d")).toMatchObject([{ requests: 2, billable_requests: 2 }]);
    first.close();
    second.close();
  });
});
