import { readdirSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { beforeAll, describe, expect, test } from "vitest";
import { distDir, ensureBuilt } from "../ensure-built.js";

beforeAll(() => ensureBuilt(), 120_000);

// What the console adds to api-key-service's image: every built file (scripts/bundle.mjs copies them all).
const LIMIT = 300 * 1024;

describe("the built console", () => {
  test("adds under 300 KB gzipped", () => {
    const files = readdirSync(distDir, { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
    const sizes = files.map((f) => {
      const bytes = readFileSync(`${f.parentPath}/${f.name}`);
      return {
        file: `${f.parentPath.slice(distDir.length)}/${f.name}`,
        raw: bytes.length,
        gzip: gzipSync(bytes).length,
      };
    });
    const total = sizes.reduce((sum, s) => sum + s.gzip, 0);
    for (const s of sizes) console.log(`console/dist${s.file}: ${s.raw} B, ${s.gzip} B gzipped`);
    console.log(
      `console/dist: ${files.length} files, ${(total / 1024).toFixed(1)} KB gzipped (limit 300 KB)`,
    );
    expect(sizes.some((s) => s.file.endsWith(".js"))).toBe(true);
    expect(total).toBeLessThan(LIMIT);
  });
});
