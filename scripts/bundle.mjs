// Bundles a service's entry point into dist/ with the workspace packages (@gateway/*) inlined and every
// npm package left external, to be installed beside it. A service therefore lists, as its own
// dependencies, every npm package its workspace packages use at run time.
// Usage: node scripts/bundle.mjs <service dir> <entry, e.g. src/run.ts>
import { copyFileSync, cpSync, existsSync, readdirSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { build } from "esbuild";

const [dir, entry] = process.argv.slice(2);
if (!dir || !entry) {
  console.error("usage: node scripts/bundle.mjs <service dir> <entry, e.g. src/run.ts>");
  process.exit(2);
}

const npmPackagesExternal = {
  name: "npm-packages-external",
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith("@gateway/") ? undefined : { external: true },
    );
  },
};

await build({
  entryPoints: [join(dir, entry)],
  outdir: join(dir, "dist"),
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  plugins: [npmPackagesExternal],
  logLevel: "info",
});

// Files the code reads beside itself at run time (the rate-limit Lua script): `new URL("./x.lua",
// import.meta.url)` in src/authz/ resolves next to dist/run.js once bundled, so they are copied flat.
for (const entry of readdirSync(join(dir, "src"), { recursive: true })) {
  const path = String(entry);
  if (path.endsWith(".lua")) copyFileSync(join(dir, "src", path), join(dir, "dist", basename(path)));
}

// api-key-service serves the console (console/dist, built by `pnpm --filter @gateway/console build`) from
// dist/console/, beside the bundle: the image carries the built files and nothing else of the console.
if (basename(dir) === "api-key-service") {
  const built = join(dir, "..", "console", "dist");
  rmSync(join(dir, "dist", "console"), { recursive: true, force: true });
  if (existsSync(join(built, "index.html"))) {
    cpSync(built, join(dir, "dist", "console"), { recursive: true });
  } else {
    console.warn(`${built} is missing: /console will answer 503 until the console is built (pnpm build)`);
  }
}
