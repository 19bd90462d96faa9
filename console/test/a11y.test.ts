import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { ADMIN_TOKEN, describe, expect, startApi, test } from "../../api-key-service/test/fixtures.js";
import { ensureBuilt } from "../ensure-built.js";
import { launchChromium, nav, openConsole, seriousViolations, signIn } from "./browser.js";
import { SHOWCASE_NOW, seedShowcase } from "./seed.js";

// The README shows these; this run writes them, from the same seeded data each time.
const SCREENSHOTS = fileURLToPath(new URL("../../docs/console/", import.meta.url));

let browser: Browser;
beforeAll(async () => {
  await ensureBuilt();
  browser = await launchChromium();
  mkdirSync(SCREENSHOTS, { recursive: true });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

const PAGES = [
  { link: "Overview", ready: (p: Page) => [p.getByRole("table", { name: "Denied checks by reason" })] },
  {
    link: "Users",
    ready: (p: Page) =>
      ["acme", "globex"].map((u) => p.getByRole("row", { name: u }).getByRole("progressbar")),
  },
  { link: "Keys", ready: (p: Page) => [p.getByRole("row", { name: /Trial key/ })] },
  { link: "Plans", ready: (p: Page) => [p.getByRole("row", { name: /Enterprise/ })] },
  { link: "Webhooks", ready: (p: Page) => [p.getByRole("row", { name: /hooks\.acme\.example/ })] },
  { link: "Audit log", ready: (p: Page) => [p.getByRole("row", { name: /key\.revoked/ })] },
] as const;

const file = (name: string) => `${SCREENSHOTS}${name.toLowerCase().replace(/\W+/g, "-")}.png`;

describe("every console page", () => {
  test("has no serious or critical axe-core violation at 1280 px and 390 px, and no sideways scrolling on a phone", async ({
    services,
  }) => {
    const api = await startApi(services, { AUTHZ_FLUSH_INTERVAL: "100ms" });
    try {
      await seedShowcase(api);
      for (const width of [390, 1280]) {
        const { page, context, refused } = await openConsole(browser, api, {
          width,
          height: width === 1280 ? 860 : 844,
          timezoneId: "UTC",
          clock: SHOWCASE_NOW,
        });
        try {
          const found: string[] = [];
          // The check finds what it looks for: a button with no name is a serious violation.
          const probe = await context.newPage();
          await probe.setContent(
            "<!doctype html><html lang=en><title>t</title><main><button></button></main></html>",
          );
          expect(await seriousViolations(probe)).toEqual([
            expect.stringMatching(/^button-name \(critical\)/),
          ]);
          await probe.close();
          const check = async (name: string) => {
            for (const v of await seriousViolations(page)) found.push(`${name} at ${width} px: ${v}`);
            const overflow = await page.evaluate(() => {
              const doc = (globalThis as any).document.documentElement;
              return doc.scrollWidth - doc.clientWidth;
            });
            if (overflow > 0) found.push(`${name} at ${width} px scrolls sideways by ${overflow} px`);
          };
          await page.getByLabel("Management key or admin token").waitFor();
          await check("Sign-in");
          if (width === 1280) await page.screenshot({ path: file("sign-in") });
          await signIn(page, ADMIN_TOKEN);
          for (const { link, ready } of PAGES) {
            await nav(page).getByRole("link", { name: link }).click();
            for (const locator of ready(page)) await locator.first().waitFor();
            if (link === "Webhooks") {
              await page
                .getByRole("button", { name: "Deliveries to https://hooks.acme.example/gateway" })
                .click();
              await page.getByRole("table", { name: /^Deliveries to/ }).waitFor();
            }
            await check(link);
            await page.screenshot({
              path: file(width === 1280 ? link : `${link}-phone`),
              fullPage: width === 1280,
            });
          }
          // The dialogs: creating a key, and its secret shown once.
          await nav(page).getByRole("link", { name: "Keys" }).click();
          await page.getByRole("button", { name: "Create key" }).click();
          await check("Create a key");
          // The key is made once, at the last width: the phone's screenshots come first and show the seeded keys.
          if (width === 1280) {
            const dialog = page.getByRole("dialog", { name: "Create a key" });
            await dialog.getByLabel("User id").fill("initech");
            await dialog.getByLabel("Name").fill("Second trial key");
            await dialog.getByRole("button", { name: "Create key" }).click();
            await page.getByRole("dialog", { name: "Key created" }).waitFor();
            await check("Key created");
            await page.screenshot({ path: file("key-created") });
          }
          expect(found).toEqual([]);
          expect(refused).toEqual([]);
        } finally {
          await context.close();
        }
      }
    } finally {
      await api.stop();
    }
  }, 120_000);
});
