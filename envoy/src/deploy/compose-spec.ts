import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

/**
 * The Compose specification's JSON schema, as shipped by the npm package docker-compose (a dependency
 * of testcontainers, which @gateway/testing uses): the one copy of it installed with the workspace.
 * Each step resolves through a declared dependency, from this package to the schema file.
 */
export function loadComposeSpecSchema(): Record<string, unknown> {
  const fromHere = createRequire(import.meta.url);
  const fromTesting = createRequire(fromHere.resolve("@gateway/testing"));
  const fromTestcontainers = createRequire(fromTesting.resolve("testcontainers"));
  const file = fromTestcontainers.resolve("docker-compose/schema/compose-spec.json");
  return JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
}
