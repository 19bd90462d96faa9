// The three service images, read as Docker would build them (there is no Docker engine here; the
// build steps were run by hand against a copy of the workspace, see envoy/README.md).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { SERVICE_NODE_FLAGS } from "../../api-key-service/src/node-flags.js";
import { execForm } from "../src/deploy/dockerfile.js";
import { loadDockerfile } from "./helpers/dockerfiles.js";
import { readRepoFile, repoPath } from "./helpers/repo.js";
import { NODE_SERVICES } from "./helpers/services.js";

describe.each(NODE_SERVICES)("%s/Dockerfile", (service) => {
  const dockerfile = loadDockerfile(service);
  const buildSteps = dockerfile.stages
    .slice(0, -1)
    .flatMap((s) => s.instructions)
    .filter((i) => i.keyword === "RUN")
    .map((i) => i.args)
    .join("\n");

  test("builds in one stage and runs from a slim one, both on a pinned Node 20 image", () => {
    expect(dockerfile.stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of dockerfile.stages) expect(stage.image).toMatch(/^node:20\.\d+\.\d+-bookworm-slim$/);
  });

  test("installs pnpm at the packageManager version, from the lockfile, without a network at install", () => {
    expect(buildSteps).toContain("require('./package.json').packageManager");
    expect(buildSteps).toContain("pnpm fetch");
    expect(buildSteps).toMatch(/pnpm install --offline --frozen-lockfile/);
  });

  test("bundles the service's entry point, which exists", () => {
    const entry = /node scripts\/bundle\.mjs (\S+) (\S+)/.exec(buildSteps);
    expect(entry?.[1]).toBe(service);
    expect(existsSync(repoPath(service, entry?.[2] ?? "(none)"))).toBe(true);
  });

  test("deploys only the service's production dependencies", () => {
    const name = JSON.parse(readRepoFile(`${service}/package.json`)).name;
    expect(buildSteps).toContain(`pnpm --filter ${name} deploy --prod --legacy`);
  });

  test("copies into the runtime image only the dependencies and the bundle", () => {
    const copies = dockerfile.argsOf("COPY");
    expect(copies.every((c) => c.startsWith("--from="))).toBe(true);
    expect(copies.map((c) => c.split(/\s+/).at(-1))).toEqual(["./package.json", "./node_modules", "./dist"]);
  });

  test("runs as the unprivileged node user, in production mode", () => {
    expect(dockerfile.argsOf("USER")).toEqual(["node"]);
    expect(dockerfile.argsOf("ENV").join(" ")).toContain("NODE_ENV=production");
  });

  test("checks its health with node's fetch, as the slim image has no curl", () => {
    const [healthcheck = ""] = dockerfile.argsOf("HEALTHCHECK");
    const command = execForm(healthcheck.slice(healthcheck.indexOf("CMD") + 3).trim());
    expect(command?.slice(0, 2)).toEqual(["node", "-e"]);
    expect(command?.[2]).toMatch(/fetch\('http:\/\/127\.0\.0\.1:'/);
  });

  test("starts the bundle with node as PID 1, which receives SIGTERM itself", () => {
    const [cmd = ""] = dockerfile.argsOf("CMD");
    expect(execForm(cmd)).toEqual(["node", ...nodeFlagsOf(service), "dist/run.js"]);
    expect(dockerfile.argsOf("ENTRYPOINT")).toEqual([]);
  });
});

/** The Node flags a service runs with: api-key-service's are src/node-flags.ts's, the others have none. */
function nodeFlagsOf(service: string): readonly string[] {
  return service === "api-key-service" ? SERVICE_NODE_FLAGS : [];
}

describe("api-key-service's Node flags", () => {
  test("`pnpm start` (the root's and the service's own) passes them, as the image does", () => {
    const flags = SERVICE_NODE_FLAGS.join(" ");
    const root = JSON.parse(readRepoFile("package.json")).scripts.start;
    const own = JSON.parse(readRepoFile("api-key-service/package.json")).scripts.start;
    expect(root).toContain(`node ${flags} api-key-service/dist/run.js`);
    expect(own).toBe(`node ${flags} dist/run.js`);
  });

  test("are flags this Node accepts", () => {
    const run = spawnSync(process.execPath, [...SERVICE_NODE_FLAGS, "-e", "0"], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
  });
});

describe(".dockerignore", () => {
  const ignored = readRepoFile(".dockerignore")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));

  test("leaves out what is rebuilt in the image, and secrets", () => {
    expect(ignored).toEqual(expect.arrayContaining(["**/node_modules", "**/dist", ".git", ".env"]));
  });

  test("keeps every file a frozen install needs", () => {
    for (const needed of ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml", "scripts", "packages"]) {
      expect(ignored.some((pattern) => pattern === needed || pattern === `${needed}/`)).toBe(false);
    }
  });
});
