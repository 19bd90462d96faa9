import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { bearer, envoyCheckRequest } from "../../api-key-service/test/envoy.js";
import { ADMIN_TOKEN, describe, expect, startApi, test } from "../../api-key-service/test/fixtures.js";
import { WebhookReceiver } from "../../api-key-service/test/webhook-receiver.js";
import { envoyAlsStream, httpEntry } from "../../billing-sidecar/test/envoy-als.js";
import { startSidecar } from "../../billing-sidecar/test/fixtures.js";
import { startStripeEmulator } from "../../packages/testing/src/index.js";
import { ensureBuilt } from "../ensure-built.js";
import { launchChromium, nav, openConsole, signIn } from "./browser.js";
import { seedUsage } from "./seed.js";

let browser: Browser;
beforeAll(async () => {
  await ensureBuilt();
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

const HOUR = 3_600_000;
const hoursAgo = (h: number) => new Date(Math.floor(Date.now() / HOUR) * HOUR - h * HOUR).toISOString();

/** The per-window table's rows as numbers, keyed by the window's start (its data-window attribute). */
async function windowTable(page: Page) {
  const table = page.getByRole("table", { name: "Per window" });
  await table.waitFor();
  return table.locator("tbody tr").evaluateAll((rows) =>
    rows.map((row) => {
      const cells = [...row.querySelectorAll("td")].map((td) => Number(td.textContent?.replace(/,/g, "")));
      const [allowed, denied, requests, billable_units, gap] = cells;
      return {
        window_start: row.getAttribute("data-window"),
        allowed,
        denied,
        requests,
        billable_units,
        gap,
      };
    }),
  );
}

describe("console pages", () => {
  test("Overview: the chart's numbers are GET /api/usage's, for one user and summed for all", async ({
    api,
  }) => {
    const a1 = await api.createKey({ user_id: "acme" });
    const a2 = await api.createKey({ user_id: "acme" });
    const z = await api.createKey({ user_id: "zed" });
    await seedUsage(
      api,
      [
        { key: a1, at: hoursAgo(5), allowed: 40, denied: 3, requests: 38, units: 76, customer: "cus_Acme" },
        { key: a2, at: hoursAgo(5), allowed: 10, denied: 0, requests: 10, units: 10, customer: "cus_Acme" },
        { key: a1, at: hoursAgo(2), allowed: 25, denied: 7, requests: 25, units: 50, customer: "cus_Acme" },
        { key: z, at: hoursAgo(2), allowed: 9, denied: 1, requests: 6, units: 6, customer: null },
      ],
      [{ customer: "cus_Acme", at: hoursAgo(5), value: 86, status: "sent" }],
    );
    // Denials this replica counts by reason: a request with no key, twice.
    await api.check(envoyCheckRequest());
    await api.check(envoyCheckRequest());

    const usageUrls: string[] = [];
    const { page, context, refused } = await openConsole(browser, api);
    page.on("request", (req) => {
      // The overview's requests name a period; the sign-in's scope probe does not.
      const url = new URL(req.url());
      if (url.pathname === "/api/usage" && url.searchParams.has("from")) usageUrls.push(req.url());
    });
    try {
      await signIn(page, ADMIN_TOKEN);
      await page.getByRole("heading", { level: 1, name: "Overview" }).waitFor();

      // All users: the sum of each user's report, as the API answers it for the same query.
      const all = await windowTable(page);
      expect(usageUrls).toHaveLength(2);
      const reports = await Promise.all(
        usageUrls.map(async (url) => (await api.request("GET", url.slice(api.baseUrl.length))).body),
      );
      const expected = new Map<string, Record<string, number>>();
      for (const w of reports.flatMap((r) => r.data)) {
        const sum = expected.get(w.window_start) ?? {
          allowed: 0,
          denied: 0,
          requests: 0,
          billable_units: 0,
          gap: 0,
        };
        for (const f of ["allowed", "denied", "requests", "billable_units", "gap"])
          sum[f] = (sum[f] ?? 0) + w[f];
        expected.set(w.window_start, sum);
      }
      expect(all).toEqual(
        [...expected]
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([window_start, sums]) => ({ window_start, ...sums })),
      );
      expect(all).toEqual([
        { window_start: hoursAgo(5), allowed: 50, denied: 3, requests: 48, billable_units: 86, gap: 2 },
        { window_start: hoursAgo(2), allowed: 34, denied: 8, requests: 31, billable_units: 56, gap: 3 },
      ]);
      const chart = page.getByRole("img", { name: /^Checks allowed and denied/ });
      expect(await chart.getAttribute("aria-label")).toContain("84 allowed, 11 denied");
      const stripeRow = page
        .getByRole("table", { name: /Stripe/ })
        .getByRole("row", { name: hoursAgo(5).slice(0, 10) });
      const day = hoursAgo(5).slice(0, 10);
      const recorded = all
        .filter((w) => w.window_start?.startsWith(day))
        .reduce((t, w) => t + (w.billable_units ?? 0), 0);
      expect(await stripeRow.getByRole("cell").allTextContents()).toEqual([
        String(recorded),
        "86",
        "0",
        "0",
        "cus_Acme",
      ]);
      const reasons = page.getByRole("table", { name: "Denied checks by reason" });
      expect(await reasons.getByRole("row", { name: "MISSING" }).getByRole("cell").textContent()).toBe("2");

      // One user, by day: the table is that one report's windows.
      usageUrls.length = 0;
      await page.getByLabel(/^User id/).fill("acme");
      await page.getByLabel("Period").selectOption("month");
      await page.getByRole("button", { name: "Show" }).click();
      await expect.poll(() => usageUrls.length).toBe(1);
      await expect.poll(() => page.getByText("User acme").count()).toBe(1);
      const one = await windowTable(page);
      const report = (await api.request("GET", (usageUrls[0] as string).slice(api.baseUrl.length))).body;
      expect(new URL(usageUrls[0] as string).searchParams.get("granularity")).toBe("day");
      const byDay = new Map<string, Record<string, number>>();
      for (const w of report.data) {
        const sum = byDay.get(w.window_start) ?? {
          allowed: 0,
          denied: 0,
          requests: 0,
          billable_units: 0,
          gap: 0,
        };
        for (const f of ["allowed", "denied", "requests", "billable_units", "gap"])
          sum[f] = (sum[f] ?? 0) + w[f];
        byDay.set(w.window_start, sum);
      }
      expect(one).toEqual([...byDay].map(([window_start, sums]) => ({ window_start, ...sums })));
      expect(one.reduce((t, w) => t + (w.billable_units ?? 0), 0)).toBe(report.totals.billable_units);
      expect(refused).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("Webhooks: register one (signing secret shown once), see its deliveries with status and retries", async ({
    services,
  }) => {
    const ok = await new WebhookReceiver().open();
    const failing = await new WebhookReceiver().open();
    failing.behaviour = 503;
    const api = await startApi(services, {
      WEBHOOK_ALLOWED_HOSTS: "127.0.0.1",
      WEBHOOK_POLL_INTERVAL: "50ms",
      WEBHOOK_RETRY_BASE: "100ms",
      WEBHOOK_RETRY_MAX: "200ms",
      WEBHOOK_TIMEOUT: "2s",
    });
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Webhooks" }).click();
      await page.getByText("No webhook is registered.").waitFor();
      for (const receiver of [ok, failing]) {
        await page.getByRole("button", { name: "Register webhook" }).click();
        const dialog = page.getByRole("dialog", { name: "Register a webhook" });
        await dialog.getByLabel("URL").fill(receiver.url());
        await dialog.getByRole("button", { name: "Register" }).click();
        const shown = page.getByRole("dialog", { name: "Webhook registered" });
        expect(await shown.getByLabel("Signing secret").inputValue()).toMatch(/^whsec_/);
        await shown.getByRole("button", { name: "Close" }).click();
      }
      await api.createKey({ user_id: "acme" });
      const hooks = (await api.request("GET", "/api/webhooks")).body.data as { id: string; url: string }[];
      const okHook = hooks.find((h) => h.url === ok.url());
      await expect
        .poll(
          async () =>
            (await api.request("GET", `/api/webhooks/${okHook?.id}/deliveries`)).body.data[0]?.status,
          {
            timeout: 10_000,
          },
        )
        .toBe("delivered");
      await expect.poll(() => failing.received.length, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);

      await page.getByRole("button", { name: `Deliveries to ${ok.url()}` }).click();
      const deliveries = page.getByRole("table", { name: `Deliveries to ${ok.url()}` });
      const delivered = deliveries.getByRole("row").nth(1);
      expect(await delivered.getByRole("cell").nth(0).textContent()).toBe("delivered");
      expect(await delivered.getByRole("rowheader").textContent()).toContain("key.created");
      expect(await delivered.getByRole("cell").nth(1).textContent()).toBe("1");

      await page.getByRole("button", { name: `Deliveries to ${failing.url()}` }).click();
      const retried = page.getByRole("table", { name: `Deliveries to ${failing.url()}` });
      const row = retried.getByRole("row").nth(1);
      expect(await row.getByRole("cell").nth(0).textContent()).toBe("pending");
      const attempts = Number(await row.getByRole("cell").nth(1).textContent());
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(await row.getByRole("cell").nth(2).textContent()).toContain("503");

      await page.getByRole("button", { name: `Delete webhook to ${failing.url()}` }).click();
      await page
        .getByRole("dialog", { name: "Delete webhook" })
        .getByRole("button", { name: "Delete webhook" })
        .click();
      await expect.poll(() => page.getByRole("row", { name: failing.url() }).count()).toBe(0);
      expect(
        (await api.request("GET", "/api/webhooks")).body.data.map((h: { url: string }) => h.url),
      ).toEqual([ok.url()]);
    } finally {
      await context.close();
      await api.stop();
      await ok.close();
      await failing.close();
    }
  });

  test("Overview: Stripe sent beside recorded, after a real sidecar rolled up the access log and sent it", async ({
    services,
  }) => {
    const emulator = await startStripeEmulator({ meters: [{ eventName: "api_requests" }] });
    const api = await startApi(services, { AUTHZ_FLUSH_INTERVAL: "100ms" });
    const sidecar = await startSidecar(services, {
      STRIPE_API_KEY: emulator.apiKey,
      STRIPE_API_BASE: emulator.url,
    });
    const stream = envoyAlsStream(sidecar.alsPort);
    try {
      await api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Acme" } });
      const key = await api.createKey({ user_id: "acme" });
      // Five checks allowed, four delivered by the lossy access log: a gap of one. Three minutes ago,
      // so their Stripe window has closed.
      const startSeconds = Math.floor(Date.now() / 60_000) * 60 - 180;
      for (let i = 0; i < 5; i++) {
        const check = await api.check(envoyCheckRequest({ headers: bearer(key.key) }));
        expect(check.status?.code).toBe(0);
        const fields = check.dynamic_metadata?.fields ?? {};
        if (i === 4) continue;
        stream.send([
          httpEntry({
            keyId: fields.api_key_id?.stringValue ?? undefined,
            userId: fields.user_id?.stringValue ?? undefined,
            customer: fields.stripe_customer_id?.stringValue ?? undefined,
            code: 200,
            startSeconds,
          }),
        ]);
      }
      await expect
        .poll(
          async () =>
            (await sidecar.query("select coalesce(sum(requests), 0)::int as n from usage_minutes"))[0].n,
        )
        .toBe(4);
      await expect
        .poll(
          async () => (await api.query("select coalesce(sum(allowed), 0)::int as n from authz_counts"))[0].n,
        )
        .toBe(5);
      await sidecar.sendToStripe();
      await sidecar.sendToStripe();
      expect(emulator.totals()).toEqual([expect.objectContaining({ customer: "cus_Acme", value: 4 })]);

      const { page, context } = await openConsole(browser, api);
      try {
        await signIn(page, ADMIN_TOKEN);
        await page.getByLabel(/^User id/).fill("acme");
        await page.getByRole("button", { name: "Show" }).click();
        await page.getByText("User acme").waitFor();
        const totals = page.getByRole("definition");
        expect(await totals.allTextContents()).toEqual(["5", "0", "4", "4", "1"]);
        const day = new Date(startSeconds * 1000).toISOString().slice(0, 10);
        const row = page.getByRole("table", { name: /Stripe/ }).getByRole("row", { name: day });
        expect(await row.getByRole("cell").allTextContents()).toEqual(["4", "4", "0", "0", "cus_Acme"]);
      } finally {
        await context.close();
      }
    } finally {
      stream.cancel();
      stream.close();
      await sidecar.close();
      await api.stop();
      await emulator.close();
    }
  });

  test("Plans: create, edit and delete a plan; deleting one that users are on is refused with the reason", async ({
    api,
  }) => {
    await api.createKey({ user_id: "acme" });
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Plans" }).click();
      await page.getByText("No plan yet").waitFor();
      await page.getByRole("button", { name: "Create plan" }).click();
      const create = page.getByRole("dialog", { name: "Create a plan" });
      await create.getByLabel("Id").fill("team");
      await create.getByLabel("Name").fill("Team");
      await create.getByLabel("Monthly quota (units)").fill("50000");
      await create.getByLabel("Past the quota").selectOption("bill");
      await create.getByLabel("Alert at (% of the quota)").fill("50 90");
      await create.getByRole("button", { name: "Create plan" }).click();
      const row = page.getByRole("row", { name: /Team/ });
      await expect.poll(() => row.textContent()).toContain("50,000");
      expect((await api.request("GET", "/api/plans/team")).body).toMatchObject({
        name: "Team",
        monthly_quota: 50000,
        overage: "bill",
        alert_thresholds: [0.5, 0.9],
        rate_limit_per_minute: null,
      });

      await row.getByRole("button", { name: "Edit plan team" }).click();
      const edit = page.getByRole("dialog", { name: "Edit plan team" });
      await edit.getByLabel("Requests per minute").fill("900");
      await edit.getByRole("button", { name: "Save" }).click();
      await expect.poll(() => row.textContent()).toContain("900 / default");

      await api.request("PUT", "/api/users/acme", { body: { plan_id: "team" } });
      await row.getByRole("button", { name: "Delete plan team" }).click();
      const remove = page.getByRole("dialog", { name: "Delete plan team" });
      await remove.getByRole("button", { name: "Delete plan" }).click();
      await expect.poll(() => remove.getByRole("alert").textContent()).toMatch(/users/i);
      expect((await api.request("GET", "/api/plans/team")).status).toBe(200);
      await remove.getByRole("button", { name: "Close" }).click();

      await api.request("PUT", "/api/users/acme", { body: { plan_id: null } });
      await row.getByRole("button", { name: "Delete plan team" }).click();
      await page
        .getByRole("dialog", { name: "Delete plan team" })
        .getByRole("button", { name: "Delete plan" })
        .click();
      await page.getByText("No plan yet").waitFor();
      expect((await api.request("GET", "/api/plans/team")).status).toBe(404);
    } finally {
      await context.close();
    }
  });
});
