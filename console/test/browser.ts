import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";

/** Debian's chromium; the background-networking flags keep it from dialling out of a closed network. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** axe-core's serious and critical violations on the page as it is now. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Injected by the test through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const violations = await page.evaluate(async () => {
    const result = await (
      globalThis as unknown as { axe: { run: () => Promise<{ violations: AxeViolation[] }> } }
    ).axe.run();
    return result.violations;
  });
  return violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map(
      (v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.map((n) => JSON.stringify(n.target)).join(", ")}`,
    );
}

export interface Console {
  page: Page;
  context: BrowserContext;
  /** What the page's Content-Security-Policy refused, from the browser's console. */
  refused: string[];
}

/** A fresh browser context (no storage) on the console of the service at `baseUrl`. */
export async function openConsole(
  browser: Browser,
  api: { baseUrl: string },
  options: { width?: number; height?: number; timezoneId?: string; clock?: Date } = {},
): Promise<Console> {
  const context = await browser.newContext({
    viewport: { width: options.width ?? 1280, height: options.height ?? 800 },
    timezoneId: options.timezoneId ?? "Europe/Paris",
    locale: "en-GB",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: api.baseUrl });
  // An action that cannot happen fails with what it waited for, well within the test's timeout.
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  if (options.clock) await page.clock.setFixedTime(options.clock);
  const refused: string[] = [];
  page.on("console", (message) => {
    if (message.text().includes("Content Security Policy")) refused.push(message.text());
  });
  await page.goto(`${api.baseUrl}/console/`);
  return { page, context, refused };
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("Management key or admin token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

export const nav = (page: Page) => page.getByRole("navigation", { name: "Pages" });
