import { createHash, randomBytes } from "node:crypto";
import { describe, expect, startStripeEmulator, test } from "@gateway/testing";
import { KeyFormat } from "../api-key-service/src/keys/key-format.js";
import { bearer, envoyCheckRequest } from "../api-key-service/test/envoy.js";
import {
  ADMIN_TOKEN,
  type ApiResponse,
  type RunningApi,
  startApi,
} from "../api-key-service/test/fixtures.js";
import { envoyAlsStream, httpEntry } from "../billing-sidecar/test/envoy-als.js";
import { startSidecar } from "../billing-sidecar/test/fixtures.js";

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest();

/** A secret's SHA-256 as hex (how a key's is stored) and as base64 and base64url. */
function hashForms(secret: string, label: string): [string, string][] {
  const digest = sha256(secret);
  return [
    [digest.toString("hex"), `sha-256 hex of ${label}`],
    [digest.toString("base64"), `sha-256 base64 of ${label}`],
    [digest.toString("base64url"), `sha-256 base64url of ${label}`],
  ];
}

/** The random part of a key (between prefix and checksum) and its body (everything after the prefix). */
function keyForms(key: string, label: string): [string, string][] {
  const body = key.slice(key.indexOf("_") + 1);
  return [
    [key, label],
    [body, `secret part of ${label}`],
    [body.slice(0, 32), `random part of ${label}`],
  ];
}

/** Which of the needles occur in the text, by label. */
function found(text: string, needles: [string, string][]): string[] {
  return needles.filter(([needle]) => text.includes(needle)).map(([, label]) => label);
}

const HEADERS: Record<string, string | RegExp> = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "SAMEORIGIN",
  "strict-transport-security": /max-age=\d+/,
  "content-security-policy": /default-src 'self'/,
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin",
  "x-permitted-cross-domain-policies": "none",
  "cache-control": "no-store",
};

/**
 * The whole gateway under hostile and ordinary use, then a search for secrets in everything the two
 * services wrote down: every log line (at trace level) and every column of every table.
 */
describe("secrets stay secret across the gateway", () => {
  test("keys, hashes, the admin token and the Stripe secret appear in no log and no table; every answer carries security headers", async ({
    services,
  }) => {
    const stripeSecret = `sk_test_${randomBytes(20).toString("hex")}`;
    const emulator = await startStripeEmulator({
      meters: [{ eventName: "api_requests" }],
      apiKey: stripeSecret,
    });
    const api = await startApi(services, {
      LOG_LEVEL: "trace",
      TRUST_PROXY: "true",
      ADMIN_AUTH_MAX_FAILURES: "3",
      AUTHZ_FLUSH_INTERVAL: "100ms",
    });
    const sidecar = await startSidecar(services, {
      STRIPE_API_KEY: stripeSecret,
      STRIPE_API_BASE: emulator.url,
      LOG_LEVEL: "trace",
    });
    const stream = envoyAlsStream(sidecar.alsPort);

    const keys: [string, string][] = [];
    const hashes: [string, string][] = [];
    const issued: string[] = [];
    /** Secrets whose hash must be kept (usable or in their grace period), and those whose must not. */
    const live: string[] = [];
    const dead: string[] = [];
    const issue = (key: string, label: string) => {
      keys.push(...keyForms(key, label));
      hashes.push(...hashForms(key, label));
      issued.push(key);
      return key;
    };
    const wrongTokens: string[] = [];
    const answers: [string, ApiResponse][] = [];
    /** The database while a Stripe error is recorded, and at the end. */
    const dumps: Awaited<ReturnType<typeof dumpDatabase>>[] = [];

    try {
      // Requests that started three minutes ago, so their Stripe window has closed by now.
      const startSeconds = Math.floor(Date.now() / 60_000) * 60 - 180;
      /** Check as Envoy does, then the access-log entry Envoy writes with Check's metadata. */
      const call = async (headers: Record<string, string>, path?: string) => {
        const check = await api.check(envoyCheckRequest({ headers, ...(path ? { path } : {}) }));
        const fields = check.dynamic_metadata?.fields ?? {};
        const allowed = check.status?.code === 0;
        const entry = httpEntry({
          keyId: fields.api_key_id?.stringValue ?? undefined,
          userId: fields.user_id?.stringValue ?? undefined,
          customer: fields.stripe_customer_id?.stringValue ?? undefined,
          code: allowed ? 200 : 401,
          startSeconds,
          ...(allowed ? {} : { denied: fields.denied_reason?.stringValue || "denied" }),
          ...(path ? { path } : {}),
        });
        // An Envoy set up to log request headers would send the credential too; it must go no further.
        if (entry.request) entry.request.request_headers = headers;
        stream.send([entry]);
        return allowed;
      };
      const record = async (label: string, res: Promise<ApiResponse>) => {
        const answer = await res;
        answers.push([label, answer]);
        return answer;
      };

      await record(
        "200 PUT user",
        api.request("PUT", "/api/users/acme", { body: { stripe_customer_id: "cus_Acme" } }),
      );
      await api.request("PUT", "/api/users/bob", { body: { stripe_customer_id: "cus_Bob" } });
      const created = await record(
        "201 POST key",
        api.request("POST", "/api/keys", { body: { user_id: "acme", name: "main" } }),
      );
      const main = issue(created.body.key, "acme's key");
      const rotating = await api.createKey({ user_id: "acme", name: "rotating" });
      const first = issue(rotating.key, "the first secret of a rotated key");
      const doomed = await api.createKey({ user_id: "bob", name: "to revoke" });
      const revoked = issue(doomed.key, "a revoked key");

      let allowed = 0;
      const expectCall = async (headers: Record<string, string>, allow: boolean, path?: string) => {
        expect(await call(headers, path), JSON.stringify(headers)).toBe(allow);
        if (allow) allowed++;
      };
      for (let i = 0; i < 3; i++) await expectCall(bearer(main), true);
      await expectCall({ "x-api-key": main }, true, `/v1/things?api_key=${main}`);
      await expectCall(bearer(first), true);
      await expectCall(bearer(revoked), true);

      const second = issue(
        (await api.request("POST", `/api/keys/by-id/${rotating.id}/rotate`, { body: {} })).body.key,
        "the second secret of a rotated key",
      );
      await expectCall(bearer(first), true); // in its grace period
      const third = issue(
        (await api.request("POST", `/api/keys/by-id/${rotating.id}/rotate`, { body: {} })).body.key,
        "the third secret of a rotated key",
      );
      await expectCall(bearer(first), false); // rotated away: a second rotation ended its grace
      await expectCall(bearer(second), true);
      await expectCall(bearer(third), true);
      expect((await record("200 DELETE key", api.request("DELETE", `/api/keys/${doomed.id}`))).status).toBe(
        200,
      );
      await expectCall(bearer(revoked), false);
      const unknown = issue(new KeyFormat("gw").generate(), "a well-formed key never issued");
      await expectCall(bearer(unknown), false);
      await expectCall(bearer(`${main.slice(0, -1)}${main.endsWith("A") ? "B" : "A"}`), false);
      await expectCall(bearer("gw_short"), false);
      await expectCall({}, false);

      // Wrong admin tokens, each from its own address so the limit below stays the attacker's alone.
      const attempts: [string, string][] = [
        [`${ADMIN_TOKEN.slice(0, -1)}X`, "192.0.2.10"],
        [`${ADMIN_TOKEN}0`, "192.0.2.11"],
        [main, "192.0.2.12"], // an API key sent as the admin token
        [stripeSecret, "192.0.2.13"],
      ];
      for (const [token, from] of attempts) {
        wrongTokens.push(token);
        const res = await record(
          "401 wrong token",
          api.request("GET", "/api/keys/acme", { token, headers: { "x-forwarded-for": from } }),
        );
        expect(res.status).toBe(401);
      }
      expect(
        (await record("401 no token", api.request("GET", "/api/keys/acme", { token: null }))).status,
      ).toBe(401);

      // An attacker guessing: three wrong tokens, then refused, the right token included.
      const attacker = { "x-forwarded-for": "198.51.100.66" };
      for (let i = 0; i < 3; i++) {
        const token = `guess-${i}-${randomBytes(16).toString("hex")}`;
        wrongTokens.push(token);
        expect((await api.request("GET", "/api/keys/acme", { token, headers: attacker })).status).toBe(401);
      }
      const limited = await record(
        "429 limited",
        api.request("GET", "/api/keys/acme", { headers: attacker }),
      );
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);

      // The rest of the management API's answers, errors included.
      await record("200 GET keys", api.request("GET", "/api/keys/acme"));
      await record("200 health", api.request("GET", "/health", { token: null }));
      await record(
        "400 invalid",
        api.request("PATCH", `/api/keys/by-id/${rotating.id}`, { body: { name: "" } }),
      );
      await record("404 unknown /api route", api.request("GET", "/api/no/such/route"));
      await record("404 unknown route", api.request("GET", "/no/such/route", { token: null }));
      await record("404 unknown key", api.request("GET", `/api/keys/by-id/key_${"0".repeat(22)}`));
      await record("4xx key in the path", api.request("GET", `/api/keys/by-id/${main}`));
      await record("409 revoked", api.request("POST", `/api/keys/by-id/${doomed.id}/rotate`));
      await record(
        "413 large body",
        api.request("POST", "/api/keys", { raw: JSON.stringify({ name: "x".repeat(1_100_000) }) }),
      );
      await record(
        "415 not JSON",
        api.request("POST", "/api/keys", { raw: "user_id=acme", contentType: "text/plain" }),
      );

      // Usage reaches Postgres and Stripe; the first meter event call fails once and is retried.
      await expect
        .poll(
          async () =>
            (await sidecar.query("select coalesce(sum(requests), 0)::int as n from usage_minutes"))[0].n,
        )
        .toBe(allowed);
      // Stripe fails every try of the first pass (the SDK retries twice), so the outbox records an error.
      emulator.faults.serverError({ path: "/v1/billing/meter_events", times: 6 });
      await sidecar.sendToStripe();
      expect(emulator.faults.pending()).toBe(0);
      const failed = await dumpDatabase(api);
      expect(failed.dump.filter((d) => d.column === "last_error").length).toBeGreaterThan(0);
      await expect
        .poll(
          async () => {
            await sidecar.sendToStripe();
            return emulator
              .totals()
              .map((t) => `${t.customer}=${t.value}`)
              .sort();
          },
          { timeout: 10_000, interval: 250 },
        )
        .toEqual(["cus_Acme=8", "cus_Bob=1"]);
      await expect
        .poll(async () => (await api.query("select count(*)::int as n from authz_counts"))[0].n)
        .toBeGreaterThan(0);

      live.push(main, revoked, second, third);
      dead.push(first, unknown);
      dumps.push(failed, await dumpDatabase(api));
    } finally {
      stream.cancel();
      stream.close();
      await sidecar.close();
      await api.stop();
      await emulator.close();
    }

    // Every answer of the management API carries the security headers and a request id.
    expect(answers.map(([label]) => label.slice(0, 3))).toEqual(
      expect.arrayContaining(["200", "201", "400", "401", "404", "409", "413", "415", "429"]),
    );
    for (const [label, res] of answers) {
      for (const [name, value] of Object.entries(HEADERS)) {
        const actual = res.headers.get(name);
        if (typeof value === "string") expect(actual, `${label}: ${name}`).toBe(value);
        else expect(actual, `${label}: ${name}`).toMatch(value);
      }
      expect(res.headers.get("x-powered-by"), label).toBeNull();
      expect(res.headers.get("access-control-allow-origin"), label).toBeNull();
      expect(res.headers.get("x-request-id"), label).toMatch(/^[0-9a-f-]{36}$/);
      if (res.status >= 400) {
        expect(res.headers.get("content-type"), label).toContain("application/problem+json");
        expect(res.body.request_id, label).toBe(res.headers.get("x-request-id"));
      }
      expect(found(res.text, [[ADMIN_TOKEN, "the admin token"], ...hashes]), label).toEqual([]);
    }

    // The logs: both services, every line, at trace level.
    const secrets: [string, string][] = [
      ...keys,
      ...hashes,
      [ADMIN_TOKEN, "the admin token"],
      ...hashForms(ADMIN_TOKEN, "the admin token"),
      [stripeSecret, "the Stripe secret key"],
      [stripeSecret.slice("sk_test_".length), "the Stripe secret key without its prefix"],
      ...wrongTokens.map((t, i): [string, string] => [t, `wrong admin token ${i}`]),
    ];
    const logs = [...api.logs, ...sidecar.logs];
    expect(api.logs.filter((line) => line.includes('"msg":"request"')).length).toBeGreaterThan(20);
    expect(api.logs.join("")).toContain('"client_ip":"198.51.100.66"');
    expect(sidecar.logs.join("")).toContain("access-log stream opened");
    for (const line of logs) expect(found(line, secrets), line).toEqual([]);

    // The database: every column of every table, as text.
    const tables = dumps.at(-1)?.tables ?? [];
    const dump = dumps.flatMap((d) => d.dump);
    expect(tables).toEqual(
      expect.arrayContaining([
        "api_keys",
        "users",
        "audit_events",
        "authz_counts",
        "usage_minutes",
        "stripe_outbox",
      ]),
    );
    // A key's hash is stored, as hex, in the two columns lookups use, and nowhere else; nothing else is.
    const keyHashes = issued.map((key, i): [string, string] => [
      sha256(key).toString("hex"),
      `hash of key ${i}`,
    ]);
    const hashColumn = (d: { table: string; column: string }) =>
      d.table === "api_keys" && (d.column === "key_hash" || d.column === "previous_key_hash");
    const neverStored = secrets.filter(([needle]) => !keyHashes.some(([hash]) => hash === needle));
    for (const d of dump) {
      expect(found(d.value, neverStored), `${d.table}.${d.column}`).toEqual([]);
      if (!hashColumn(d)) expect(found(d.value, keyHashes), `${d.table}.${d.column}`).toEqual([]);
    }
    const stored = dump.filter(hashColumn).map((d) => d.value);
    for (const secret of live) expect(stored).toContain(sha256(secret).toString("hex"));
    // The first secret's grace ended with the second rotation: nothing of it is kept.
    for (const gone of dead) expect(stored).not.toContain(sha256(gone).toString("hex"));
  });
});

/** Every non-empty value of every column of every table the services own, cast to text. */
async function dumpDatabase(api: RunningApi) {
  const columns: { table_name: string; column_name: string }[] = await api.query(
    `select c.table_name, c.column_name from information_schema.columns c
       join information_schema.tables t using (table_schema, table_name)
      where c.table_schema = 'public' and t.table_type = 'BASE TABLE' and c.table_name not like 'kysely_%'
      order by c.table_name, c.ordinal_position`,
  );
  const dump: { table: string; column: string; value: string }[] = [];
  for (const { table_name: table, column_name: column } of columns) {
    const rows = await api.query(
      `select "${column}"::text as value from "${table}" where "${column}" is not null`,
    );
    for (const row of rows) dump.push({ table, column, value: row.value });
  }
  return { tables: [...new Set(columns.map((c) => c.table_name))], dump };
}
