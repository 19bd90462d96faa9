import { execFile } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { type StripeEmulator, startStripeEmulator } from "@gateway/testing";
import { afterEach, describe, expect, test } from "vitest";
import { METER_PAYLOAD_KEYS } from "../src/stripe/meter-client.js";

// `pnpm stripe:setup` as an operator runs it: its own process, against the Stripe emulator.

/** A port on 127.0.0.1 that nothing listens on, for a STRIPE_API_BASE that reaches nothing. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

const cli = fileURLToPath(new URL("../src/stripe-setup-cli.ts", import.meta.url));

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function setup(env: Record<string, string>, args: string[] = []): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", cli, ...args],
      { env: { PATH: process.env.PATH ?? "", ...env } },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

let emulator: StripeEmulator | undefined;
afterEach(async () => {
  await emulator?.close();
  emulator = undefined;
});

async function withEmulator(options: Parameters<typeof startStripeEmulator>[0] = {}) {
  emulator = await startStripeEmulator(options);
  const env = { STRIPE_API_KEY: emulator.apiKey, STRIPE_API_BASE: emulator.url };
  const writes = () => emulator?.requests({ method: "POST", path: /^\/v1\/billing\/meters/ }).length ?? 0;
  return { emulator, env, writes };
}

describe("pnpm stripe:setup", () => {
  test("creates the meter the sidecar needs once; a second run changes nothing", async () => {
    const { emulator, env, writes } = await withEmulator();

    const first = await setup(env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      /^created meter mtr_\w+ \("API usage", event name "api_requests", test mode\)/,
    );
    expect(emulator.meters()).toMatchObject([
      {
        eventName: "api_requests",
        customerKey: METER_PAYLOAD_KEYS.customer,
        valueKey: METER_PAYLOAD_KEYS.value,
        formula: "sum",
        eventTimeWindow: null,
        status: "active",
      },
    ]);

    const second = await setup(env);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/^meter mtr_\w+ .* is set up as the sidecar needs/);
    expect(emulator.meters()).toHaveLength(1);
    expect(writes()).toBe(1);
    expect(`${first.stdout}${first.stderr}${second.stdout}${second.stderr}`).not.toContain(
      env.STRIPE_API_KEY,
    );
  });

  test("follows STRIPE_METER_EVENT_NAME, and finds its meter among others", async () => {
    const { emulator, env } = await withEmulator({ meters: [{ eventName: "other_events" }] });

    const run = await setup({ ...env, STRIPE_METER_EVENT_NAME: "search_calls" });

    expect(run.code, run.stderr).toBe(0);
    expect(emulator.meters().map((m) => m.eventName)).toEqual(["search_calls", "other_events"]);
    expect((await setup({ ...env, STRIPE_METER_EVENT_NAME: "search_calls" }, ["--check"])).code).toBe(0);
  });

  test("--check reports a missing meter, exits 1 and creates nothing", async () => {
    const { emulator, env, writes } = await withEmulator();

    const run = await setup(env, ["--check"]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('no Billing meter has event name "api_requests"');
    expect(emulator.meters()).toEqual([]);
    expect(writes()).toBe(0);
  });

  test("--check reports a meter deactivated since it was set up", async () => {
    const { emulator, env, writes } = await withEmulator();
    expect((await setup(env)).code).toBe(0);
    emulator.setMeterStatus("api_requests", "inactive");

    const run = await setup(env, ["--check"]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain('status is "inactive"');
    expect(run.stderr).toContain("reactivate it on the Dashboard's Meters page");
    expect(writes()).toBe(1);
  });

  test("an existing meter that would miscount is reported difference by difference and left alone", async () => {
    const { emulator, env, writes } = await withEmulator({
      meters: [
        {
          eventName: "api_requests",
          customerKey: "customer",
          valueKey: "units",
          formula: "count",
          eventTimeWindow: "hour",
          status: "inactive",
        },
      ],
    });

    const run = await setup(env);

    expect(run.code).toBe(1);
    for (const part of [
      'customer_mapping.event_payload_key is "customer", but the sidecar sends the customer in "stripe_customer_id"',
      'value_settings.event_payload_key is "units", but the sidecar sends the units in "value"',
      'default_aggregation.formula is "count"',
      'event_time_window is "hour"',
      'status is "inactive"',
      "Nothing was changed.",
      "set STRIPE_METER_EVENT_NAME to a new event name",
    ]) {
      expect(run.stderr).toContain(part);
    }
    expect(writes()).toBe(0);
    expect(emulator.meters()).toHaveLength(1);
    expect((await setup(env, ["--check"])).code).toBe(1);
  });

  test("without STRIPE_API_KEY it says what to set and exits 2", async () => {
    const run = await setup({});

    expect(run.code).toBe(2);
    expect(run.stderr).toContain("STRIPE_API_KEY is required");
  });

  test("a malformed key or an unknown argument exits 2 without echoing the key", async () => {
    const bad = await setup({ STRIPE_API_KEY: "pk_live_secretish123" });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("STRIPE_API_KEY: must be a Stripe secret or restricted key");
    expect(bad.stderr).not.toContain("secretish");

    const unknown = await setup({ STRIPE_API_KEY: "sk_test_x" }, ["--fix"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown argument --fix");
  });

  test("a key Stripe refuses, or no Stripe at all, exits 2 saying which", async () => {
    const { env } = await withEmulator({ apiKey: "sk_test_theoneaccepted" });
    const refused = await setup({ ...env, STRIPE_API_KEY: "sk_test_wrongkey1234" });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("Stripe refused STRIPE_API_KEY");
    expect(refused.stderr).not.toContain("sk_test_wrongkey1234");

    const closed = `http://127.0.0.1:${await closedPort()}`;
    const unreachable = await setup({ ...env, STRIPE_API_BASE: closed, STRIPE_TIMEOUT: "1s" });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr).toContain(`cannot reach Stripe at ${closed}`);
  });
});
