import type { Browser } from "playwright-core";
import { afterAll, beforeAll } from "vitest";
import { bearer, envoyCheckRequest } from "../../api-key-service/test/envoy.js";
import { ADMIN_TOKEN, describe, expect, test } from "../../api-key-service/test/fixtures.js";
import { ensureBuilt } from "../ensure-built.js";
import { launchChromium, nav, openConsole, signIn } from "./browser.js";

let browser: Browser;
beforeAll(async () => {
  await ensureBuilt();
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

describe("the console", () => {
  test("a wrong key cannot sign in; the admin token can, and the credential stays in this tab only", async ({
    api,
  }) => {
    const { page, context, refused } = await openConsole(browser, api);
    try {
      await signIn(page, "gwm_not-a-real-key-0123456789abcdefghijkl");
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("not valid");
      expect(await nav(page).count()).toBe(0);
      expect(await page.evaluate(() => (globalThis as any).sessionStorage.length)).toBe(0);

      await signIn(page, ADMIN_TOKEN);
      await expect
        .poll(() => nav(page).getByRole("link").allTextContents())
        .toEqual(["Overview", "Users", "Keys", "Plans", "Webhooks", "Audit log"]);
      expect(await page.evaluate(() => Object.values((globalThis as any).sessionStorage))).toEqual([
        ADMIN_TOKEN,
      ]);
      expect(await page.evaluate(() => Object.values((globalThis as any).localStorage))).toEqual([]);
      expect(await context.cookies()).toEqual([]);
      expect(refused).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("create a key and copy its secret, see it listed, rotate it, revoke it: a Check with it is then refused", async ({
    api,
  }) => {
    const { page, context, refused } = await openConsole(browser, api);
    try {
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Keys" }).click();
      await page.getByRole("button", { name: "Create key" }).click();
      const create = page.getByRole("dialog", { name: "Create a key" });
      await create.getByLabel("User id").fill("acme");
      await create.getByLabel("Name").fill("Production backend");
      await create.getByLabel("Scopes").fill("read, write");
      await create.getByLabel("Requests per minute").fill("120");
      await create.getByRole("button", { name: "Create key" }).click();

      const shown = page.getByRole("dialog", { name: "Key created" });
      await expect.poll(() => shown.getByRole("alert").textContent()).toContain("shown this once");
      await shown.getByRole("button", { name: "Copy" }).click();
      await expect.poll(() => shown.getByRole("status").textContent()).toContain("Copied");
      const secret = await page.evaluate(() => (globalThis as any).navigator.clipboard.readText());
      expect(await shown.getByLabel("Secret").inputValue()).toBe(secret);
      expect((await api.check(envoyCheckRequest({ headers: bearer(secret) }))).status?.code).toBe(0);
      await shown.getByRole("button", { name: "I have stored the secret" }).click();

      const row = page.getByRole("row", { name: /Production backend/ });
      await expect.poll(() => row.textContent()).toContain("acme");
      const [record] = (await api.request("GET", "/api/keys?user_id=acme")).body.data;
      expect(record).toMatchObject({
        name: "Production backend",
        scopes: ["read", "write"],
        rate_limit_per_minute: 120,
      });
      expect(await row.textContent()).toContain(`${record.start}…`);
      // Times in the viewer's zone (this browser: Paris), UTC on hover.
      const created = row.locator("time").last();
      expect(await created.getAttribute("datetime")).toBe(record.created_at);
      expect(await created.getAttribute("title")).toBe(
        `${record.created_at.slice(0, 19).replace("T", " ")} UTC`,
      );
      expect(await created.textContent()).toBe(
        new Intl.DateTimeFormat("en-GB", {
          dateStyle: "medium",
          timeStyle: "short",
          timeZone: "Europe/Paris",
        }).format(new Date(record.created_at)),
      );

      await row.getByRole("button", { name: "Rotate Production backend" }).click();
      const rotate = page.getByRole("dialog", { name: "Rotate Production backend" });
      await rotate.getByLabel("The old secret keeps working for").selectOption("0s");
      await rotate.getByRole("button", { name: "Rotate" }).click();
      const rotated = page.getByRole("dialog", { name: "Key rotated" });
      const newSecret = await rotated.getByLabel("New secret").inputValue();
      expect(newSecret).not.toBe(secret);
      await rotated.getByRole("button", { name: "I have stored the secret" }).click();
      await expect
        .poll(async () => (await api.check(envoyCheckRequest({ headers: bearer(secret) }))).status?.code)
        .not.toBe(0);
      expect((await api.check(envoyCheckRequest({ headers: bearer(newSecret) }))).status?.code).toBe(0);

      await row.getByRole("button", { name: "Revoke Production backend" }).click();
      await page
        .getByRole("dialog", { name: "Revoke Production backend" })
        .getByRole("button", { name: "Revoke key" })
        .click();
      await expect.poll(() => row.textContent()).toContain("revoked");
      expect(await row.getByRole("button").count()).toBe(0);
      await expect
        .poll(async () => (await api.check(envoyCheckRequest({ headers: bearer(newSecret) }))).status?.code)
        .not.toBe(0);
      expect((await api.request("GET", `/api/keys/by-id/${record.id}`)).body.status).toBe("revoked");
      expect(refused).toEqual([]);
    } finally {
      await context.close();
    }
  });

  test("disable, enable and edit a key's limits, scopes and expiry; filter the list", async ({ api }) => {
    const key = await api.createKey({ user_id: "acme", name: "Reporting job" });
    await api.createKey({ user_id: "zed", name: "Other job" });
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Keys" }).click();
      await page.getByLabel("User id").fill("acme");
      await page.getByRole("button", { name: "Search" }).click();
      await expect.poll(() => page.getByRole("row").count()).toBe(2);
      const row = page.getByRole("row", { name: /Reporting job/ });

      await row.getByRole("button", { name: "Disable Reporting job" }).click();
      await expect.poll(() => row.textContent()).toContain("disabled");
      expect((await api.check(envoyCheckRequest({ headers: bearer(key.key) }))).status?.code).not.toBe(0);
      await row.getByRole("button", { name: "Enable Reporting job" }).click();
      await expect.poll(() => row.textContent()).toContain("active");

      await row.getByRole("button", { name: "Edit Reporting job" }).click();
      const edit = page.getByRole("dialog", { name: "Edit Reporting job" });
      await edit.getByLabel("Requests per day").fill("5000");
      await edit.getByLabel("Scopes").fill("reports");
      await edit.getByLabel("Expiry").selectOption("30d");
      await edit.getByRole("button", { name: "Save" }).click();
      await expect.poll(() => row.textContent()).toContain("5,000");
      const updated = (await api.request("GET", `/api/keys/by-id/${key.id}`)).body;
      expect(updated).toMatchObject({ rate_limit_per_day: 5000, scopes: ["reports"], enabled: true });
      const days = (Date.parse(updated.expires_at) - Date.now()) / 86_400_000;
      expect(days).toBeGreaterThan(29);
      expect(days).toBeLessThanOrEqual(30);

      await row.getByRole("button", { name: "Edit Reporting job" }).click();
      await page
        .getByRole("dialog", { name: "Edit Reporting job" })
        .getByLabel("Requests per day")
        .fill("2000000000");
      await page
        .getByRole("dialog", { name: "Edit Reporting job" })
        .getByRole("button", { name: "Save" })
        .click();
      await expect
        .poll(() => page.getByRole("dialog", { name: "Edit Reporting job" }).getByRole("alert").textContent())
        .toContain("rate_limit_per_day");
      expect((await api.request("GET", `/api/keys/by-id/${key.id}`)).body.rate_limit_per_day).toBe(5000);
    } finally {
      await context.close();
    }
  });

  test("change a user's plan", async ({ api }) => {
    await api.createKey({ user_id: "acme" });
    for (const plan of [
      { id: "free", name: "Free", monthly_quota: 1000 },
      { id: "pro", name: "Pro", monthly_quota: 100000 },
    ]) {
      expect((await api.request("POST", "/api/plans", { body: plan })).status).toBe(201);
    }
    expect((await api.request("PUT", "/api/users/acme", { body: { plan_id: "free" } })).status).toBe(200);
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Users" }).click();
      const row = page.getByRole("row", { name: /acme/ });
      await expect.poll(() => row.locator(".plan").textContent()).toBe("free");
      await expect
        .poll(() => row.getByRole("progressbar").getAttribute("aria-label"))
        .toBe("0 of 1,000 units used, 1,000 remaining");
      await row.getByRole("button", { name: "Change plan or customer of acme" }).click();
      const dialog = page.getByRole("dialog", { name: "User acme" });
      await dialog.getByLabel("Plan").selectOption("pro");
      await dialog.getByRole("button", { name: "Save" }).click();
      await expect.poll(() => row.locator(".plan").textContent()).toBe("pro");
      expect((await api.request("GET", "/api/users/acme")).body.plan_id).toBe("pro");
      const [event] = (await api.request("GET", "/api/audit?user_id=acme&action=user.plan_updated")).body
        .data;
      expect(event.actor).toEqual({ type: "admin_token" });
    } finally {
      await context.close();
    }
  });

  test("a read-only management key sees every page it may read and no button that writes", async ({
    api,
  }) => {
    await api.createKey({ user_id: "acme", name: "Some key" });
    expect((await api.request("POST", "/api/plans", { body: { id: "free", name: "Free" } })).status).toBe(
      201,
    );
    const readOnly = await api.createManagementKey({
      name: "support",
      scopes: ["keys:read", "users:read", "usage:read", "audit:read", "plans:read", "webhooks:read"],
    });
    const writeButtons = /Create|Edit|Rotate|Revoke|Disable|Enable|Change plan|Delete|Register/;
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, readOnly.key);
      await expect
        .poll(() => nav(page).getByRole("link").allTextContents())
        .toEqual(["Overview", "Users", "Keys", "Plans", "Webhooks", "Audit log"]);
      for (const [name, row] of [
        ["Users", /acme/],
        ["Keys", /Some key/],
        ["Plans", /Free/],
      ] as const) {
        await nav(page).getByRole("link", { name }).click();
        await page.getByRole("row", { name: row }).waitFor();
        expect(await page.getByRole("main").getByRole("button", { name: writeButtons }).count()).toBe(0);
      }
      for (const name of ["Webhooks", "Audit log"]) {
        await nav(page).getByRole("link", { name }).click();
        await page.getByRole("heading", { level: 1, name }).waitFor();
        expect(await page.getByRole("main").getByRole("button", { name: writeButtons }).count()).toBe(0);
      }

      // The same pages with the admin token do show them: the filter above finds what is there.
      await page.getByRole("button", { name: "Sign out" }).click();
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Keys" }).click();
      await page.getByRole("row", { name: /Some key/ }).waitFor();
      expect(await page.getByRole("main").getByRole("button", { name: writeButtons }).count()).toBe(5);
    } finally {
      await context.close();
    }
  });

  test("a key with only some scopes sees only those pages", async ({ api }) => {
    const auditor = await api.createManagementKey({ name: "auditor", scopes: ["audit:read"] });
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, auditor.key);
      await expect.poll(() => nav(page).getByRole("link").allTextContents()).toEqual(["Audit log"]);
      await page.getByRole("heading", { level: 1, name: "Audit log" }).waitFor();
      await page
        .getByRole("region", { name: "Audit events" })
        .or(page.getByText("No event matches"))
        .waitFor();
    } finally {
      await context.close();
    }
  });

  test("a key bound to one user may not change plans: no plan button, field or write on Plans", async ({
    api,
  }) => {
    await api.createKey({ user_id: "acme", name: "Acme key" });
    expect((await api.request("POST", "/api/plans", { body: { id: "free", name: "Free" } })).status).toBe(
      201,
    );
    const portal = await api.createManagementKey({
      name: "acme portal",
      user_id: "acme",
      scopes: ["keys:read", "keys:write", "users:read", "users:write", "plans:read", "plans:write"],
    });
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, portal.key);
      await nav(page).getByRole("link", { name: "Plans" }).click();
      await page.getByRole("row", { name: /Free/ }).waitFor();
      expect(await page.getByRole("main").getByRole("button").count()).toBe(0);

      await nav(page).getByRole("link", { name: "Users" }).click();
      await page.getByRole("button", { name: "Change customer of acme" }).click();
      const dialog = page.getByRole("dialog", { name: "User acme" });
      expect(await dialog.getByLabel("Plan").count()).toBe(0);
      await dialog.getByLabel("Stripe customer").fill("cus_AcmePortal");
      await dialog.getByRole("button", { name: "Save" }).click();
      await expect
        .poll(() => page.getByRole("row", { name: /acme/ }).textContent())
        .toContain("cus_AcmePortal");

      // Its own keys it may still manage.
      await nav(page).getByRole("link", { name: "Keys" }).click();
      await page.getByRole("button", { name: "Revoke Acme key" }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("a credential revoked while signed in ends the session at its next request", async ({ api }) => {
    await api.createKey({ user_id: "acme", name: "Acme key" });
    const support = await api.createManagementKey({ name: "support", scopes: ["keys:read", "users:read"] });
    const { page, context } = await openConsole(browser, api);
    try {
      await signIn(page, support.key);
      await nav(page).getByRole("link", { name: "Keys" }).waitFor();
      expect((await api.request("DELETE", `/api/management-keys/${support.id}`)).status).toBe(200);
      await expect
        .poll(
          async () => {
            await nav(page)
              .getByRole("link", { name: "Users" })
              .click({ timeout: 500 })
              .catch(() => {});
            await nav(page)
              .getByRole("link", { name: "Keys" })
              .click({ timeout: 500 })
              .catch(() => {});
            return page.getByLabel("Management key or admin token").count();
          },
          { timeout: 5_000 },
        )
        .toBe(1);
      expect(await page.getByRole("alert").first().textContent()).toContain("no longer valid");
      expect(await page.evaluate(() => (globalThis as any).sessionStorage.length)).toBe(0);
    } finally {
      await context.close();
    }
  });

  test("works by keyboard alone: sign in, reach a page, open a dialog and move through it, Escape closes it and focus returns", async ({
    api,
  }) => {
    const { page, context } = await openConsole(browser, api);
    const focused = () =>
      page.evaluate(() => {
        const el = (globalThis as any).document.activeElement;
        return `${el?.tagName.toLowerCase()} ${el?.getAttribute("aria-label") ?? el?.textContent?.trim() ?? ""}`;
      });
    const tabTo = async (target: string) => {
      for (let i = 0; i < 30 && (await focused()) !== target; i++) await page.keyboard.press("Tab");
      expect(await focused()).toBe(target);
    };
    try {
      await page.getByLabel("Management key or admin token").focus();
      await page.keyboard.type(ADMIN_TOKEN);
      await page.keyboard.press("Enter");
      await nav(page).waitFor();
      await tabTo("a Keys");
      await page.keyboard.press("Enter");
      await page.getByRole("heading", { level: 1, name: "Keys" }).waitFor();
      await tabTo("button Create key");
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog", { name: "Create a key" });
      await dialog.waitFor();
      // Focus moved into the dialog, and Tab never reaches the page behind it (it is inert while the
      // dialog is open; past the last control the browser's own UI takes focus, shown as <body>).
      const inside = () =>
        dialog.evaluate((d) => {
          const active = (globalThis as any).document.activeElement;
          return d.contains(active) ? "dialog" : active?.tagName.toLowerCase();
        });
      expect(await inside()).toBe("dialog");
      const seen = new Set<string>();
      for (let i = 0; i < 12; i++) {
        await page.keyboard.press("Tab");
        seen.add(await inside());
      }
      expect([...seen].filter((where) => where !== "dialog" && where !== "body")).toEqual([]);
      await page.keyboard.press("Escape");
      await expect.poll(() => dialog.count()).toBe(0);
      expect(await focused()).toBe("button Create key");
    } finally {
      await context.close();
    }
  });

  test("Audit log: filter by action, actor, key and user; a malformed filter is explained, not a blank page", async ({
    api,
  }) => {
    const ops = await api.createManagementKey({ name: "ops bot", scopes: ["keys:write", "keys:read"] });
    const opsKey = await api.createKey({ user_id: "acme", name: "made by ops" });
    const byOps = await api.request("POST", "/api/keys", {
      token: ops.key,
      body: { user_id: "globex", name: "ops key" },
    });
    expect(byOps.status).toBe(201);
    await api.request("DELETE", `/api/keys/${opsKey.id}`);
    const { page, context } = await openConsole(browser, api);
    const rows = () => page.getByRole("region", { name: "Audit events" }).locator("tbody tr");
    const actions = () => rows().getByRole("rowheader").allTextContents();
    const filter = async (fields: Record<string, string>, action = "") => {
      for (const label of ["Actor", "Key id", "User id"])
        await page.getByLabel(label).fill(fields[label] ?? "");
      await page.getByLabel("Action").selectOption(action);
      await page.getByRole("button", { name: "Filter" }).click();
    };
    try {
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Audit log" }).click();
      await expect
        .poll(actions)
        .toEqual(["key.revoked", "key.created", "key.created", "management_key.created"]);

      await filter({}, "key.revoked");
      await expect.poll(actions).toEqual(["key.revoked"]);
      await filter({ Actor: ops.id });
      await expect.poll(actions).toEqual(["key.created"]);
      expect(await rows().first().textContent()).toContain(`ops bot (${ops.id})`);
      await filter({ "Key id": opsKey.id });
      await expect.poll(actions).toEqual(["key.revoked", "key.created"]);
      await filter({ "User id": "globex" });
      await expect.poll(actions).toEqual(["key.created"]);
      await filter({ "User id": "nobody" });
      await page.getByText("No event matches these filters.").waitFor();

      await filter({ Actor: "someone" });
      await expect.poll(() => page.getByRole("alert").textContent()).toContain("actor_id");
      await page.getByRole("button", { name: "Try again" }).waitFor();
    } finally {
      await context.close();
    }
  });

  test("Users: filter the loaded users, load more, and find one by its exact id beyond the loaded page", async ({
    api,
  }) => {
    await api.query(
      "insert into users (user_id, stripe_customer_id) select 'user-' || lpad(n::text, 3, '0'), null from generate_series(1, 60) n",
    );
    await api.request("PUT", "/api/users/user-007", { body: { stripe_customer_id: "cus_Seven" } });
    const { page, context } = await openConsole(browser, api);
    const users = () => page.getByRole("region", { name: "Users" }).locator("tbody tr");
    try {
      await signIn(page, ADMIN_TOKEN);
      await nav(page).getByRole("link", { name: "Users" }).click();
      await expect.poll(() => users().count()).toBe(50);
      const search = page.getByLabel("User, plan or Stripe customer");
      await search.fill("cus_seven");
      await expect
        .poll(() => users().getByRole("rowheader").allTextContents())
        .toEqual([expect.stringMatching(/^user-007/)]);

      await search.fill("user-058");
      await page.getByText("No loaded user matches.").waitFor();
      await page.getByRole("button", { name: "Find user" }).click();
      await expect
        .poll(() => users().getByRole("rowheader").allTextContents())
        .toEqual([expect.stringMatching(/^user-058/)]);
      await search.fill("user-999");
      await page.getByRole("button", { name: "Find user" }).click();
      await expect.poll(() => page.getByRole("alert").textContent()).toMatch(/not found/i);

      await search.fill("");
      await page.getByRole("button", { name: "Load more" }).click();
      await expect.poll(() => users().count()).toBe(60);
      expect(await page.getByRole("button", { name: "Load more" }).count()).toBe(0);
    } finally {
      await context.close();
    }
  });
});
