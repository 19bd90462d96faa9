// envoy/start.sh, the Envoy container's entry point, run for real: it fills envoy.yaml's placeholders
// (the internal token, the TLS directory) and starts Envoy on the result. What it renders must still
// be a config Envoy's bootstrap schema accepts.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { formatIssues, parseEnvoyYaml, validateEnvoyYaml } from "../src/index.js";
import { EXT_AUTHZ, hcmOf, placeholder } from "./helpers/envoy-config.js";
import { repoPath } from "./helpers/repo.js";

const SCRIPT = repoPath("envoy/start.sh");
const TOKEN = "sample/Token+0123456789abcdef0123456789=";

/** A certificate and key from scripts/dev-cert.sh, once for the file. */
const tlsSource = (() => {
  const dir = mkdtempSync(join(tmpdir(), "envoy-tls-"));
  const made = spawnSync("bash", [repoPath("scripts/dev-cert.sh"), dir], { encoding: "utf8" });
  if (made.status !== 0) throw new Error(`dev-cert.sh failed: ${made.stderr}`);
  return dir;
})();

function start(args: string[], env: Record<string, string | undefined> = {}) {
  const runDir = join(mkdtempSync(join(tmpdir(), "envoy-run-")), "envoy");
  const bin = mkdtempSync(join(tmpdir(), "envoy-bin-"));
  // Stands in for the envoy binary: prints what it was started with.
  writeFileSync(join(bin, "envoy"), '#!/usr/bin/env bash\necho "envoy $*"\n');
  chmodSync(join(bin, "envoy"), 0o755);
  const result = spawnSync("bash", [SCRIPT, ...args], {
    encoding: "utf8",
    env: {
      PATH: `${bin}:${process.env.PATH ?? ""}`,
      ENVOY_TEMPLATE: repoPath("envoy/envoy.yaml"),
      ENVOY_TLS_SOURCE: tlsSource,
      ENVOY_RUN_DIR: runDir,
      INTERNAL_TOKEN: TOKEN,
      ...env,
    },
  });
  return { status: result.status, output: result.stdout + result.stderr, runDir };
}

describe("envoy/start.sh", () => {
  test("renders envoy.yaml with a sample token into a config Envoy's schema accepts", () => {
    const run = start(["--render-only"]);
    expect(run.status, run.output).toBe(0);
    const file = join(run.runDir, "envoy.yaml");
    expect(run.output.trim()).toBe(file);
    const text = readFileSync(file, "utf8");
    expect(formatIssues(validateEnvoyYaml(text))).toBe("");
    expect(text).not.toContain("${");

    const config: any = parseEnvoyYaml(text).config;
    const { hcm } = hcmOf(config);
    const extAuthz = hcm.http_filters.find((f: any) => f.name === EXT_AUTHZ).typed_config;
    const accessLog = hcm.access_log.find((l: any) => l.name === "envoy.access_loggers.http_grpc");
    for (const grpcService of [extAuthz.grpc_service, accessLog.typed_config.common_config.grpc_service])
      expect(grpcService.initial_metadata).toEqual([{ key: "x-gateway-token", value: TOKEN }]);

    const tls = config.static_resources.listeners[1].filter_chains[0].transport_socket.typed_config;
    const [certificate] = tls.common_tls_context.tls_certificates;
    expect(certificate.certificate_chain.filename).toBe(join(run.runDir, "tls", "tls.crt"));
    expect(certificate.private_key.filename).toBe(join(run.runDir, "tls", "tls.key"));
    // The copies Envoy reads are the mounted ones, and like the rendered config (which holds the
    // token) readable by their owner only.
    for (const name of ["tls.crt", "tls.key"])
      expect(readFileSync(join(run.runDir, "tls", name)).equals(readFileSync(join(tlsSource, name)))).toBe(
        true,
      );
    for (const path of [file, join(run.runDir, "tls", "tls.key")])
      expect(statSync(path).mode & 0o077, path).toBe(0);
  });

  test("starts Envoy on the rendered copy, passing its arguments on", () => {
    const run = start(["--concurrency", "2", "--log-level", "info"]);
    expect(run.status, run.output).toBe(0);
    expect(run.output.trim()).toBe(
      `envoy -c ${join(run.runDir, "envoy.yaml")} --concurrency 2 --log-level info`,
    );
  });

  test.each([
    ["unset", undefined, /INTERNAL_TOKEN is not set/],
    ["empty", "", /INTERNAL_TOKEN is not set/],
    ["short", "a".repeat(31), /INTERNAL_TOKEN must be 32 to 1024 characters/],
    ["with a quote", `${"a".repeat(32)}"`, /INTERNAL_TOKEN may only hold/],
    ["with a space", `${"a".repeat(32)} x`, /INTERNAL_TOKEN may only hold/],
    ["with an ampersand", `${"a".repeat(32)}&`, /INTERNAL_TOKEN may only hold/],
  ])("refuses to start with INTERNAL_TOKEN %s, naming it and writing nothing", (_what, token, message) => {
    const run = start([], { INTERNAL_TOKEN: token });
    expect(run.status).toBe(1);
    expect(run.output).toMatch(message);
    expect(run.output).not.toContain("envoy -c");
    expect(() => statSync(join(run.runDir, "envoy.yaml"))).toThrow();
  });

  test("refuses to start without the certificate, saying how to make one", () => {
    const run = start([], { ENVOY_TLS_SOURCE: mkdtempSync(join(tmpdir(), "no-tls-")) });
    expect(run.status).toBe(1);
    expect(run.output).toMatch(/no readable .*tls\.crt .*scripts\/dev-cert\.sh/);
  });

  test("refuses a template with a placeholder it does not know, or without the token's", () => {
    const dir = mkdtempSync(join(tmpdir(), "template-"));
    writeFileSync(
      join(dir, "unknown.yaml"),
      `a: ${placeholder("INTERNAL_TOKEN")}\nb: ${placeholder("SOMETHING_ELSE")}\n`,
    );
    writeFileSync(join(dir, "tokenless.yaml"), "a: b\n");
    const unknown = start(["--render-only"], { ENVOY_TEMPLATE: join(dir, "unknown.yaml") });
    expect(unknown.status).toBe(1);
    expect(unknown.output).toContain("placeholder this script does not fill in");
    const tokenless = start(["--render-only"], { ENVOY_TEMPLATE: join(dir, "tokenless.yaml") });
    expect(tokenless.status).toBe(1);
    expect(tokenless.output).toContain(`has no ${placeholder("INTERNAL_TOKEN")} to fill in`);
  });
});
