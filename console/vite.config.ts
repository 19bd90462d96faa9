import preact from "@preact/preset-vite";
import { defineConfig } from "vite";

// Served by api-key-service at /console (api-key-service/src/http/console.ts), same origin as the API.
export default defineConfig({
  base: "/console/",
  plugins: [preact({ prerender: { enabled: false } })],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    // The page's Content-Security-Policy allows no inline script: no polyfill snippet in index.html.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
