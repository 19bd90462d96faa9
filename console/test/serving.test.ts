import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import http, { type Server } from "node:http";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { beforeAll } from "vitest";
import { CONSOLE_CSP, mountConsole } from "../../api-key-service/src/http/console.js";
import { describe, expect, test } from "../../api-key-service/test/fixtures.js";
import { distDir, ensureBuilt } from "../ensure-built.js";

/** A GET with the path sent exactly as written (fetch would resolve the dots). */
function rawGet(base: string, path: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    http
      .get({ host: hostname, port, path }, (res) => {
        let body = "";
        res.on("data", (chunk) => {
          body += chunk;
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on("error", reject);
  });
}

type App = Parameters<typeof mountConsole>[0];

// The service's own express, as it resolves from api-key-service/ (the console package does not depend on it).
const express = createRequire(new URL("../../api-key-service/package.json", import.meta.url))(
  "express",
) as () => App;

beforeAll(() => ensureBuilt(), 120_000);

describe("api-key-service serves the console", () => {
  test("at /console and every page under it, with a strict Content-Security-Policy, same origin as the API", async ({
    api,
  }) => {
    for (const path of ["/console", "/console/", "/console/keys", "/console/users?q=acme"]) {
      const res = await fetch(api.baseUrl + path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get("content-type")).toMatch(/^text\/html/);
      expect(res.headers.get("content-security-policy")).toBe(CONSOLE_CSP);
      const html = await res.text();
      expect(html).toContain('<div id="app"></div>');
      // No inline script: every <script> has a src on this origin.
      expect([...html.matchAll(/<script\b[^>]*>/g)].map(([tag]) => tag)).toEqual([
        expect.stringMatching(
          /^<script type="module" crossorigin src="\/console\/assets\/index-[\w-]+\.js">$/,
        ),
      ]);
    }
    expect(CONSOLE_CSP).toMatch(/default-src 'self'/);
    expect(CONSOLE_CSP).not.toMatch(/unsafe-inline|unsafe-eval|https?:|\*/);

    const [script] = readdirSync(`${distDir}/assets`).filter((f) => f.endsWith(".js"));
    const asset = await fetch(`${api.baseUrl}/console/assets/${script}`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/javascript/);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");

    // A missing bundle is a 404 problem, not the app's HTML.
    const missing = await fetch(`${api.baseUrl}/console/assets/index-gone.js`);
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toMatch(/problem\+json/);
    // Nothing outside the built files: paths that climb out are refused or answered with the app.
    for (const path of [
      "/console/assets/..%2f..%2f..%2fpackage.json",
      "/console/assets/%2e%2e/%2e%2e/vite.config.ts",
      "/console/..%2f..%2fapi-key-service%2fpackage.json",
    ]) {
      const res = await rawGet(api.baseUrl, path);
      expect(res.body, path).not.toMatch(/"name":|defineConfig/);
      expect(res.status, path).toBeLessThan(500);
    }
    // The API around it is unchanged.
    expect((await api.request("GET", "/api/keys", { token: null })).status).toBe(401);
  });

  test("without built files, /console says to run pnpm build (503), and the rest still works", async () => {
    const empty = mkdtempSync(`${tmpdir()}/console-`);
    const app = express();
    mountConsole(app, empty);
    app.get("/health", (_req: unknown, res: { json: (body: unknown) => void }) => {
      res.json({ status: "ok" });
    });
    const server: Server = app.listen(0, "127.0.0.1");
    await new Promise((resolve) => server.once("listening", resolve));
    const { port } = server.address() as { port: number };
    try {
      const res = await fetch(`http://127.0.0.1:${port}/console/keys`);
      expect(res.status).toBe(503);
      expect(await res.text()).toContain("pnpm build");
      expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    } finally {
      server.close();
      rmSync(empty, { recursive: true });
    }
  });
});
