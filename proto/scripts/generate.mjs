// Regenerates src/generated/ (TypeScript types for Envoy's ext_authz and access-log services) from the
// protos that @grpc/grpc-js-xds ships. Run after upgrading that package: pnpm --filter @gateway/proto generate
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const deps = join(dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
const bin = join(
  dirname(require.resolve("@grpc/proto-loader/package.json")),
  "build/bin/proto-loader-gen-types.js",
);
const out = join(here, "../src/generated");

rmSync(out, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [
    bin,
    // The file names go first: the repeatable --includeDirs option would swallow them.
    "envoy/service/auth/v3/external_auth.proto",
    "envoy/service/accesslog/v3/als.proto",
    "--keepCase",
    "--longs=String",
    "--enums=String",
    "--defaults=false",
    "--oneofs",
    "--grpcLib=@grpc/grpc-js",
    "--importFileExtension=.js",
    `--outDir=${out}`,
    ...["envoy-api", "googleapis", "protoc-gen-validate", "xds"].map((d) => `--includeDirs=${join(deps, d)}`),
  ],
  { stdio: "inherit" },
);

// The generator records each proto's absolute path; keep only the part inside the npm package.
for (const entry of readdirSync(out, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile()) continue;
  const file = join(entry.parentPath ?? entry.path, entry.name);
  const text = readFileSync(file, "utf8");
  const relative = text.replaceAll(`${deps}/`, "@grpc/grpc-js-xds/deps/");
  if (relative !== text) writeFileSync(file, relative);
}
