import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { appliedFiles, K8S_DIR, REPO_ROOT } from "./manifests.js";

/**
 * deploy.sh run for real against stand-ins for kubectl, docker and kind that record every call and
 * answer like a fresh kind cluster. It runs in a copy of the repository's layout (k8s/, envoy/,
 * <service>/Dockerfile), so what it would build, load, create and apply, and in which order, can be
 * asserted without a cluster.
 */
const KUBECTL = String.raw`#!/usr/bin/env node
const fs = require("fs");
const dir = process.env.STUB_DIR;
const statePath = dir + "/state.json";
const state = fs.existsSync(statePath) ? JSON.parse(fs.readFileSync(statePath, "utf8")) : { secret: null, tls: null, config: null, applied: [] };
let args = process.argv.slice(2);
if (args[0] === "-n") args = args.slice(2);
const stdin = args.includes("-") ? fs.readFileSync(0, "utf8") : undefined;
fs.appendFileSync(dir + "/calls.jsonl", JSON.stringify({ tool: "kubectl", args, stdin }) + "\n");
const save = () => fs.writeFileSync(statePath, JSON.stringify(state));
const flag = (name) => (args.find((a) => a.startsWith(name + "=")) || "").slice(name.length + 1);
const [verb, what, name] = args;
const out = (text) => process.stdout.write(text);
if (verb === "config") out(process.env.STUB_CONTEXT + "\n");
else if (verb === "version" || verb === "rollout" || verb === "delete") {}
else if (verb === "get" && what === "secret" && name === "gateway-tls") {
  if (!state.tls) { process.stderr.write("Error from server (NotFound)\n"); process.exit(1); }
  out("secret/gateway-tls\n");
} else if (verb === "get" && what === "secret") {
  if (!state.secret) { process.stderr.write("Error from server (NotFound)\n"); process.exit(1); }
  const key = /\.data\.(\w+)/.exec(args.join(" "))[1];
  out(state.secret[key] === undefined ? "" : Buffer.from(state.secret[key]).toString("base64"));
} else if (verb === "create" && what === "secret" && name === "tls") {
  out("kind: TLSSecret\n" + fs.readFileSync(flag("--cert"), "utf8") + fs.readFileSync(flag("--key"), "utf8"));
} else if (verb === "create" && what === "secret") {
  out("kind: Secret\n" + fs.readFileSync(flag("--from-env-file"), "utf8"));
} else if (verb === "create" && what === "configmap") {
  out("kind: ConfigMap\n" + fs.readFileSync(flag("--from-file").split("=")[1], "utf8"));
} else if (verb === "apply" && stdin !== undefined) {
  const [kind, ...rest] = stdin.split("\n");
  if (kind === "kind: Secret") {
    state.secret = Object.fromEntries(rest.filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
    out("secret/gateway-secrets configured\n");
  } else if (kind === "kind: TLSSecret") {
    out("secret/gateway-tls " + (state.tls === null ? "created" : state.tls === stdin ? "unchanged" : "configured") + "\n");
    state.tls = stdin;
  } else {
    out("configmap/envoy-config " + (state.config === null ? "created" : state.config === stdin ? "unchanged" : "configured") + "\n");
    state.config = stdin;
  }
  save();
} else if (verb === "apply") {
  for (let i = 0; i < args.length; i++) if (args[i] === "-f") state.applied.push(args[i + 1].split("/").pop());
  save();
} else if (verb === "get" && what === "job") out("1");
else if (verb === "get" && what === "deployment") {
  const files = { "api-key-service": "05-api-key-service.yaml", "billing-sidecar": "06-billing-sidecar.yaml", "backend-service": "07-backend-service.yaml", envoy: "08-envoy.yaml" };
  if (!state.applied.includes(files[name])) process.exit(1);
} else if (verb === "get" && what === "service") out(process.env.STUB_LB || "");
else if (verb === "get" && what === "nodes") out("v1.31.0");
else if (verb === "logs") out("applied 3 migration(s)\n");
else { process.stderr.write("kubectl stub: unexpected " + args.join(" ") + "\n"); process.exit(3); }
`;

const RECORDER = (tool: string) => String.raw`#!/usr/bin/env node
require("fs").appendFileSync(process.env.STUB_DIR + "/calls.jsonl", JSON.stringify({ tool: "${tool}", args: process.argv.slice(2) }) + "\n");
`;

interface Call {
  tool: string;
  args: string[];
  stdin?: string;
}

function fakeRepo(): string {
  const root = mkdtempSync(join(tmpdir(), "deploy-sh-"));
  mkdirSync(join(root, "k8s"));
  for (const file of ["deploy.sh", ...appliedFiles()])
    copyFileSync(join(K8S_DIR, file), join(root, "k8s", file));
  mkdirSync(join(root, "envoy"));
  writeFileSync(join(root, "envoy", "envoy.yaml"), "static_resources: {}\n");
  copyFileSync(join(REPO_ROOT, "envoy", "start.sh"), join(root, "envoy", "start.sh"));
  mkdirSync(join(root, "scripts"));
  copyFileSync(join(REPO_ROOT, "scripts", "dev-cert.sh"), join(root, "scripts", "dev-cert.sh"));
  for (const service of ["api-key-service", "billing-sidecar", "backend-service"]) {
    mkdirSync(join(root, service));
    writeFileSync(join(root, service, "Dockerfile"), "FROM scratch\n");
  }
  const bin = join(root, "stub-bin");
  mkdirSync(bin);
  for (const [tool, text] of [
    ["kubectl", KUBECTL],
    ["docker", RECORDER("docker")],
    ["kind", RECORDER("kind")],
  ] as const) {
    writeFileSync(join(bin, tool), text);
    chmodSync(join(bin, tool), 0o755);
  }
  return root;
}

function deploy(root: string, args: string[] = [], env: Record<string, string> = {}) {
  writeFileSync(join(root, "calls.jsonl"), "");
  const result = spawnSync("bash", [join(root, "k8s", "deploy.sh"), ...args], {
    encoding: "utf8",
    env: {
      PATH: `${join(root, "stub-bin")}:${process.env.PATH ?? ""}`,
      HOME: root,
      STUB_DIR: root,
      STUB_CONTEXT: "kind-gateway",
      ...env,
    },
  });
  const calls: Call[] = readFileSync(join(root, "calls.jsonl"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
  const state = () => JSON.parse(readFileSync(join(root, "state.json"), "utf8"));
  const secret = (): Record<string, string> => state().secret;
  const tls = (): string | null => state().tls;
  return { status: result.status, output: result.stdout + result.stderr, calls, secret, tls };
}

const kubectl = (calls: Call[]) => calls.filter((c) => c.tool === "kubectl").map((c) => c.args.join(" "));
const position = (lines: string[], pattern: RegExp) => lines.findIndex((l) => pattern.test(l));

describe("k8s/deploy.sh", () => {
  test("on a fresh kind cluster: builds, loads, creates the secret, applies every manifest in order and waits", () => {
    const root = fakeRepo();
    const run = deploy(root);
    expect(run.status, run.output).toBe(0);

    const builds = run.calls.filter((c) => c.tool === "docker").map((c) => c.args.join(" "));
    expect(builds).toEqual(
      ["api-key-service", "billing-sidecar", "backend-service"].map(
        (s) => `build -f ${root}/${s}/Dockerfile -t api-key-gateway/${s}:local ${root}`,
      ),
    );
    expect(run.calls.filter((c) => c.tool === "kind").map((c) => c.args.join(" "))).toEqual(
      ["api-key-service", "billing-sidecar", "backend-service"].map(
        (s) => `load docker-image api-key-gateway/${s}:local --name gateway`,
      ),
    );

    const k = kubectl(run.calls);
    const applied = k.filter((l) => l.startsWith("apply -f ") && !l.endsWith("-f -"));
    const files = applied.flatMap((l) =>
      l
        .split(" ")
        .filter((w) => w.endsWith(".yaml"))
        .map((w) => w.split("/").pop()),
    );
    // Every numbered manifest once, in order; the template never.
    expect(files).toEqual(appliedFiles());

    // Order: namespace → secret → state → wait → migration (after removing the last run) → services.
    const at = (p: RegExp) => {
      const i = position(k, p);
      expect(i, String(p)).toBeGreaterThanOrEqual(0);
      return i;
    };
    expect(at(/00-namespace/)).toBeLessThan(at(/create secret generic gateway-secrets/));
    expect(at(/create secret/)).toBeLessThan(at(/02-postgres/));
    expect(at(/rollout status statefulset\/postgres/)).toBeGreaterThan(at(/02-postgres/));
    expect(at(/rollout status deployment\/redis/)).toBeLessThan(at(/04-migrate-job/));
    expect(at(/delete job api-key-service-migrate/)).toBeLessThan(at(/04-migrate-job/));
    expect(at(/get job api-key-service-migrate/)).toBeLessThan(at(/05-api-key-service/));
    for (const name of ["api-key-service", "billing-sidecar", "backend-service", "envoy"])
      expect(at(new RegExp(`rollout status deployment/${name} --timeout=300s`))).toBeGreaterThan(
        at(/08-envoy/),
      );
    expect(k.filter((l) => l.includes("rollout restart"))).toEqual([]);
    expect(at(/create configmap envoy-config --from-file=envoy\.yaml=.*\/envoy\/envoy\.yaml/)).toBeLessThan(
      at(/08-envoy/),
    );

    const secret = run.secret();
    expect(secret.ADMIN_TOKEN).toMatch(/^[0-9a-f]{64}$/);
    expect(secret.POSTGRES_PASSWORD).toMatch(/^[0-9a-f]{48}$/);
    expect(secret.DATABASE_URL).toBe(`postgres://gateway:${secret.POSTGRES_PASSWORD}@postgres:5432/gateway`);
    expect(secret.STRIPE_API_KEY).toBeUndefined();
    expect(secret.STRIPE_WEBHOOK_SECRET).toBeUndefined();
    // Secrets go through a file descriptor: never on a command line, where ps shows them.
    for (const c of run.calls) expect(c.args.join(" ")).not.toContain(secret.ADMIN_TOKEN);
    expect(run.output).toContain("port-forward svc/envoy 8443:8443");
  }, 30_000);

  test("a second deploy keeps the token and password, and restarts what runs a rebuilt image", () => {
    const root = fakeRepo();
    expect(
      deploy(root, [], { STRIPE_API_KEY: "sk_test_123", STRIPE_WEBHOOK_SECRET: "whsec_test_123" }).status,
    ).toBe(0);
    const first = deploy(root).secret();

    const again = deploy(root, [], { STUB_LB: "203.0.113.10" });
    expect(again.status, again.output).toBe(0);
    expect(again.secret()).toEqual(first);
    expect(first.STRIPE_API_KEY).toBe("sk_test_123");
    expect(first.STRIPE_WEBHOOK_SECRET).toBe("whsec_test_123");
    // Images keep their tag across builds; envoy's config did not change.
    expect(kubectl(again.calls).filter((l) => l.startsWith("rollout restart"))).toEqual([
      "rollout restart deployment/api-key-service",
      "rollout restart deployment/billing-sidecar",
      "rollout restart deployment/backend-service",
    ]);
    expect(again.output).toContain("https://203.0.113.10:8443");

    // Nothing rebuilt: nothing to restart, but a changed envoy.yaml must reach Envoy.
    writeFileSync(join(root, "envoy", "envoy.yaml"), "static_resources: { listeners: [] }\n");
    const configOnly = deploy(root, ["--skip-build"], { STRIPE_API_KEY: "" });
    expect(configOnly.status, configOnly.output).toBe(0);
    expect(configOnly.calls.filter((c) => c.tool === "docker" || c.tool === "kind")).toEqual([]);
    expect(kubectl(configOnly.calls).filter((l) => l.startsWith("rollout restart"))).toEqual([
      "rollout restart deployment/envoy",
    ]);
    // Set but empty: the Stripe key is removed.
    expect(configOnly.secret().STRIPE_API_KEY).toBeUndefined();
  }, 90_000);

  test("generates INTERNAL_TOKEN and a self-signed gateway-tls before Envoy, and ships start.sh with envoy.yaml", () => {
    const root = fakeRepo();
    const run = deploy(root);
    expect(run.status, run.output).toBe(0);
    const token = run.secret().INTERNAL_TOKEN as string;
    expect(token).toMatch(/^[0-9a-f]{64}$/);
    for (const c of run.calls) expect(c.args.join(" ")).not.toContain(token);
    expect(run.tls()).toMatch(/BEGIN CERTIFICATE[\s\S]*BEGIN PRIVATE KEY/);
    const k = kubectl(run.calls);
    const at = (p: RegExp) => position(k, p);
    expect(at(/create secret tls gateway-tls --cert=\S+ --key=\S+/)).toBeGreaterThanOrEqual(0);
    expect(at(/create secret tls/)).toBeLessThan(at(/08-envoy/));
    expect(
      at(/create configmap envoy-config .*--from-file=start\.sh=.*\/envoy\/start\.sh/),
    ).toBeGreaterThanOrEqual(0);
    expect(run.output).toContain("certificate:    self-signed");

    // A second run keeps both, and restarts no more than a rebuild does.
    const again = deploy(root, ["--skip-build"]);
    expect(again.status, again.output).toBe(0);
    expect(again.secret().INTERNAL_TOKEN).toBe(token);
    expect(kubectl(again.calls).some((l) => l.startsWith("create secret tls"))).toBe(false);
    expect(kubectl(again.calls).filter((l) => l.startsWith("rollout restart"))).toEqual([]);
  }, 60_000);

  test("TLS_CERT and TLS_KEY replace the certificate and restart Envoy; a new INTERNAL_TOKEN restarts its three holders", () => {
    const root = fakeRepo();
    expect(deploy(root).status).toBe(0);
    const certDir = join(root, "own-cert");
    mkdirSync(certDir);
    writeFileSync(join(certDir, "tls.crt"), "-----BEGIN CERTIFICATE-----\nOWN\n-----END CERTIFICATE-----\n");
    writeFileSync(join(certDir, "tls.key"), "-----BEGIN PRIVATE KEY-----\nOWN\n-----END PRIVATE KEY-----\n");
    const own = deploy(root, ["--skip-build"], {
      TLS_CERT: join(certDir, "tls.crt"),
      TLS_KEY: join(certDir, "tls.key"),
    });
    expect(own.status, own.output).toBe(0);
    expect(own.tls()).toContain("OWN");
    expect(kubectl(own.calls).filter((l) => l.startsWith("rollout restart"))).toEqual([
      "rollout restart deployment/envoy",
    ]);

    const rotated = deploy(root, ["--skip-build"], { INTERNAL_TOKEN: "r".repeat(40) });
    expect(rotated.status, rotated.output).toBe(0);
    expect(rotated.secret().INTERNAL_TOKEN).toBe("r".repeat(40));
    expect(kubectl(rotated.calls).filter((l) => l.startsWith("rollout restart"))).toEqual([
      "rollout restart deployment/api-key-service",
      "rollout restart deployment/billing-sidecar",
      "rollout restart deployment/envoy",
    ]);
  }, 90_000);

  test.each([
    ["short", "a".repeat(31), "INTERNAL_TOKEN must be at least 32 characters"],
    ["with a quote", `${"a".repeat(32)}"`, "INTERNAL_TOKEN may only hold"],
  ])("refuses an INTERNAL_TOKEN that is %s, naming it", (_what, token, message) => {
    const run = deploy(fakeRepo(), ["--skip-build"], { INTERNAL_TOKEN: token });
    expect(run.status).toBe(1);
    expect(run.output).toContain(message);
    expect(kubectl(run.calls).some((l) => l.includes("create secret"))).toBe(false);
  });

  test("refuses a TLS_CERT without its TLS_KEY before changing anything", () => {
    const root = fakeRepo();
    const run = deploy(root, ["--skip-build"], { TLS_CERT: join(root, "k8s", "deploy.sh") });
    expect(run.status).toBe(1);
    expect(run.output).toContain("TLS_CERT and TLS_KEY must both name readable PEM files");
    expect(kubectl(run.calls).some((l) => l.startsWith("apply"))).toBe(false);
  });

  test("refuses a short ADMIN_TOKEN, naming it", () => {
    const run = deploy(fakeRepo(), ["--skip-build"], { ADMIN_TOKEN: "short" });
    expect(run.status).toBe(1);
    expect(run.output).toContain("ADMIN_TOKEN must be at least 32 characters");
    expect(kubectl(run.calls).some((l) => l.includes("create secret"))).toBe(false);
  });

  test("on a cluster it cannot load images into, stops before changing anything and says what to set", () => {
    const run = deploy(fakeRepo(), [], { STUB_CONTEXT: "gke_project_zone_cluster" });
    expect(run.status).toBe(1);
    expect(run.output).toContain("IMAGE_LOADER");
    expect(kubectl(run.calls).some((l) => l.startsWith("apply"))).toBe(false);
    expect(run.calls.filter((c) => c.tool === "docker")).toEqual([]);
  });

  test("--help describes the options and changes nothing", () => {
    const run = deploy(fakeRepo(), ["--help"]);
    expect(run.status).toBe(0);
    expect(run.output).toContain("--skip-build");
    expect(run.calls).toEqual([]);
  });
});
