import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import express, { type Express, type RequestHandler } from "express";

/**
 * Where the console's built files are: beside the bundle (dist/console/, copied by scripts/bundle.mjs)
 * or, when run from source, the workspace's console/dist (`pnpm build`).
 */
export function consoleDir(): string {
  const candidates = [
    new URL("./console/", import.meta.url),
    new URL("../../../console/dist/", import.meta.url),
  ];
  const found = candidates.find((url) => existsSync(new URL("index.html", url)));
  return fileURLToPath(found ?? (candidates[1] as URL));
}

/**
 * Only this origin: the console's own scripts and styles, API calls back to this service, nothing
 * inline and nothing from elsewhere (it must work inside a cluster with no way out).
 */
export const CONSOLE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Console not built</title></head>
<body><main><h1>The console is not built</h1>
<p>This api-key-service has no console files. Build them with <code>pnpm build</code> (the console is
<code>console/</code>; its output, <code>console/dist</code>, is served here) and reload.</p></main></body></html>
`;

/** Serves the console at /console: hashed assets cached for good, every other path the app's index.html. */
export function mountConsole(app: Express, dir: string = consoleDir()): void {
  const policy: RequestHandler = (_req, res, next) => {
    res.setHeader("Content-Security-Policy", CONSOLE_CSP);
    next();
  };
  const index: RequestHandler = (_req, res) => {
    const file = `${dir}/index.html`;
    if (!existsSync(file)) {
      res.status(503).type("html").send(NOT_BUILT);
      return;
    }
    res.sendFile(file);
  };
  app.use(
    "/console/assets",
    policy,
    express.static(`${dir}/assets`, {
      index: false,
      redirect: false,
      fallthrough: true,
      setHeaders: (res) => res.setHeader("Cache-Control", "public, max-age=31536000, immutable"),
    }),
  );
  app.get("/console", policy, index);
  app.get("/console/{*page}", policy, (req, res, next) =>
    // A missing asset is a 404, not the app: a stale page asking for an old bundle must not get HTML.
    req.path.startsWith("/console/assets/") ? next() : index(req, res, next),
  );
}
