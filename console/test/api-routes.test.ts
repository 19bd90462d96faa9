import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { declaredRoutes } from "../../api-key-service/src/http/routes/index.js";

const src = fileURLToPath(new URL("../src/", import.meta.url));
const sources = readdirSync(src, { recursive: true })
  .map(String)
  .filter((f) => /\.tsx?$/.test(f))
  .map((f) => readFileSync(`${src}${f}`, "utf8"))
  .join("\n");

/** `/api/keys/by-id/${record.id}/rotate?x=1` → `/api/keys/by-id/:/rotate`: literal segments kept. */
const shape = (path: string) =>
  path
    .split("?")[0]
    ?.replace(/\$\{[^}]+\}|:\w+/g, ":")
    .replace(/\/scope-probe$/, "/:");

describe("the console's requests", () => {
  test("are routes the API declares (the public management API, nothing of its own)", () => {
    const calls = [
      ...sources.matchAll(/"(GET|POST|PUT|PATCH|DELETE)",\s*[`"](\/[^`"]+)/g),
      ...sources.matchAll(/method: "(GET|POST|PUT|PATCH|DELETE)", path: [`"](\/[^`"]+)/g),
      ...[...sources.matchAll(/usePaged<\w+>\(\s*[`"](\/[^`"]+)/g)].map((m) => [m[0], "GET", m[1]]),
    ].map(([, method, path]) => `${method} ${shape(path as string)}`);
    const declared = new Set(declaredRoutes().map((r) => `${r.method.toUpperCase()} ${shape(r.path)}`));
    const unique = [...new Set(calls)].sort();
    expect(unique.length).toBeGreaterThanOrEqual(15);
    expect(unique.filter((c) => !declared.has(c))).toEqual([]);
  });
});
