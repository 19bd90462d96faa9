import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { REPO_ROOT } from "./helpers/gateway.js";

const TOKEN = "configs-test-internal-token-0123456789abcdef";

/** `${NAME}`, as the nginx template writes its placeholders. */
const placeholder = (name: string) => `\${${name}}`;

function run(file: string, args: string[], env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "gateway-config-"));
  const result = spawnSync(file, args, {
    cwd: REPO_ROOT,
    encoding: "utf8",
    env: {
      PATH: process.env.PATH ?? "",
      HOME: dir,
      XDG_CONFIG_HOME: dir,
      XDG_DATA_HOME: dir,
      TMPDIR: dir,
      ...env,
    },
  });
  return {
    code: result.status,
    output: `${result.stdout}${result.stderr}`,
    stdout: result.stdout.trim(),
    dir,
  };
}

describe("gateways/nginx: the template and start.sh", () => {
  const template = readFileSync(join(REPO_ROOT, "gateways/nginx/nginx.conf"), "utf8");

  test("nginx accepts the rendered config (nginx -t)", () => {
    const { code, output } = run("bash", ["gateways/nginx/start.sh", "-t"], { INTERNAL_TOKEN: TOKEN });
    expect(output).toContain("test is successful");
    expect(code).toBe(0);
  });

  test("the rendered config is the template with its four placeholders filled in, readable by its owner only", () => {
    const env = {
      GATEWAY_PORT: "18000",
      FORWARD_AUTH_ADDR: "auth.internal:9003",
      BACKEND_ADDR: "[::1]:3000",
      INTERNAL_TOKEN: TOKEN,
    };
    const { code, stdout } = run("bash", ["gateways/nginx/start.sh", "--render-only"], env);
    expect(code).toBe(0);
    let expected = template;
    for (const [name, value] of Object.entries(env)) expected = expected.replace(placeholder(name), value);
    // bash reads the template without its final newline and writes one.
    expect(readFileSync(stdout, "utf8")).toBe(`${expected.trimEnd()}\n`);
    expect(spawnSync("stat", ["-c", "%a", stdout], { encoding: "utf8" }).stdout.trim()).toBe("600");
  });

  test.each([
    ["GATEWAY_PORT", "8000; include /etc/passwd"],
    ["GATEWAY_PORT", "70000"],
    ["FORWARD_AUTH_ADDR", "127.0.0.1:9003; }"],
    ["FORWARD_AUTH_ADDR", "127.0.0.1"],
    ["BACKEND_ADDR", "backend service:3000"],
    ["INTERNAL_TOKEN", 'short"'],
    ["INTERNAL_TOKEN", `${"a".repeat(40)}";`],
  ])("refuses %s=%j, naming it, and writes nothing", (name, value) => {
    const runDir = join(mkdtempSync(join(tmpdir(), "gateway-config-")), "run");
    const { code, output } = run("bash", ["gateways/nginx/start.sh", "--render-only"], {
      [name]: value,
      NGINX_RUN_DIR: runDir,
    });
    expect(code).toBe(1);
    expect(output).toContain(name);
    expect(existsSync(runDir)).toBe(false);
  });
});

describe("gateways/caddy/Caddyfile", () => {
  test("Caddy accepts it as shipped, with and without the environment set", () => {
    for (const env of [
      {} as Record<string, string>,
      {
        GATEWAY_PORT: "18001",
        FORWARD_AUTH_ADDR: "auth:9003",
        BACKEND_ADDR: "backend:3000",
        INTERNAL_TOKEN: TOKEN,
      },
    ]) {
      const { code, output } = run(
        "caddy",
        ["validate", "--config", "gateways/caddy/Caddyfile", "--adapter", "caddyfile"],
        env,
      );
      expect(output).toContain("Valid configuration");
      expect(code).toBe(0);
    }
  });

  test("is formatted as caddy fmt formats it", () => {
    const { code, stdout } = run("caddy", ["fmt", "gateways/caddy/Caddyfile"]);
    expect(code).toBe(0);
    expect(`${stdout}\n`).toBe(readFileSync(join(REPO_ROOT, "gateways/caddy/Caddyfile"), "utf8"));
  });

  test("has no admin endpoint and no automatic HTTPS", () => {
    const { code, stdout } = run("caddy", [
      "adapt",
      "--config",
      "gateways/caddy/Caddyfile",
      "--adapter",
      "caddyfile",
    ]);
    expect(code).toBe(0);
    const json = JSON.parse(stdout);
    expect(json.admin).toEqual({ disabled: true });
    expect(json.apps.http.servers.srv0.listen).toEqual([":8000"]);
    expect(json.apps.http.servers.srv0.automatic_https).toEqual({ disable: true });
  });
});
