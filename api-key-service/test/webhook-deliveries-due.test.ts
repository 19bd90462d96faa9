import { claimDueDeliveries, markFailed } from "../src/webhooks/deliveries.repository.js";
import { enqueueEvent } from "../src/webhooks/webhook-events.repository.js";
import { insertWebhook } from "../src/webhooks/webhooks.repository.js";
import { describe, expect, test } from "./db-fixture.js";

describe("webhook deliveries are due by Postgres's clock", () => {
  test("a delivery is claimed by the first pass after its event, every time; a retry is due after its delay", async ({
    db,
  }) => {
    const now = new Date();
    const webhook = await insertWebhook(db, {
      id: "wh_due",
      url: "https://receiver.example.com/hook",
      events: ["key.created"],
      secret: "whsec_test",
      user_id: null,
      created_by: JSON.stringify({ type: "admin" }),
      created_at: now,
      updated_at: now,
    });
    // Created with Postgres's now() in microseconds: compared with this process's clock in whole
    // milliseconds it was still in the future in most tries, and waited for the next pass.
    for (let i = 0; i < 100; i++) {
      await enqueueEvent(db, { type: "key.created", data: { user_id: `user_${i}` } });
      const claimed = await claimDueDeliveries(db, 60_000, 10);
      expect(
        claimed.map((d) => d.webhook_id),
        `pass ${i}`,
      ).toEqual([webhook.id]);
      await markFailed(
        db,
        claimed[0] as (typeof claimed)[0],
        { statusCode: 500, error: "test", retryInMs: null },
        now,
      );
    }

    await enqueueEvent(db, { type: "key.created", data: { user_id: "user_retry" } });
    const [first] = await claimDueDeliveries(db, 60_000, 10);
    if (!first) throw new Error("the delivery was not claimed");
    expect(await claimDueDeliveries(db, 60_000, 10)).toEqual([]); // leased
    await markFailed(db, first, { statusCode: 503, error: "unavailable", retryInMs: 300 }, now);
    expect(await claimDueDeliveries(db, 60_000, 10)).toEqual([]);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await claimDueDeliveries(db, 60_000, 10)).map((d) => d.id)).toEqual([first.id]);
  });
});
