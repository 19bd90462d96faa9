import http from "node:http";
import fc from "fast-check";
import { afterAll } from "vitest";
import { SCOPES } from "../src/access/scopes.js";
import { KeyFormat } from "../src/keys/key-format.js";
import { VERIFY_CODES } from "../src/verify/verify-result.js";
import { isPublicAddress } from "../src/webhooks/address-guard.js";
import { ADMIN_TOKEN, type Api, describe, expect, test } from "./fixtures.js";

/**
 * Hostile input to every management route, generated: whatever a client sends, the answer is below
 * 500; a refusal is an RFC 9457 problem and writes nothing; an acceptance stores what was sent.
 * bad-input.test.ts keeps the hand-picked cases; these generalise them.
 */

/** Requests sent, shrinking included: the figure the docs quote. */
let tried = 0;

// Requests go through node:http so that paths arrive exactly as written: fetch would resolve "..".
const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
afterAll(() => agent.destroy());

interface Answer {
  status: number;
  type: string;
  body: any;
  text: string;
}

function send(
  api: Api,
  method: string,
  path: string,
  options: { body?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  tried++;
  const { port } = new URL(api.baseUrl);
  const headers: Record<string, string> = { authorization: `Bearer ${ADMIN_TOKEN}`, ...options.headers };
  if (options.body !== undefined) {
    headers["content-type"] ??= "application/json";
    headers["content-length"] = String(Buffer.byteLength(options.body));
  }
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        const type = res.headers["content-type"] ?? "";
        let body: unknown = text;
        if (type.includes("json") && text) body = JSON.parse(text);
        resolve({ status: res.statusCode ?? 0, type, body, text });
      });
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** The fixture's row counts plus plans, which it does not count. */
async function counts(api: Api): Promise<Record<string, number>> {
  const [plans] = await api.query("select count(*)::int as n from plans");
  return { ...(await api.rowCounts()), plans: plans.n };
}

/** Never a 5xx; every 4xx is a problem document that names its status and carries the request id. */
function expectSafe(res: Answer, method: string, label: string): void {
  expect(res.status, `${label}: ${res.text.slice(0, 300)}`).toBeLessThan(500);
  if (res.status >= 400 && method !== "HEAD") {
    expect(res.type, label).toContain("application/problem+json");
    expect(res.body.status, label).toBe(res.status);
    expect(res.body.detail, label).toEqual(expect.any(String));
    expect(res.body.request_id, label).toEqual(expect.any(String));
  }
}

// --- generated values ---------------------------------------------------------------------------

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f]/;
const USER_ID = /^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$/;
const SCOPE = /^[A-Za-z0-9][A-Za-z0-9:._/-]{0,63}$/;
const STRIPE_CUSTOMER = /^cus_[A-Za-z0-9]{1,64}$/;
const KEY_ID = /^key_[0-9A-Za-z]{22}$/;
const PLAN_ID = /^[a-z0-9_-]{1,64}$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** Unicode text (no lone surrogate): the only kind Postgres can store as sent. */
const wellFormed = (s: string) => !LONE_SURROGATE.test(s);
/** Each lone surrogate replaced, so the text can go into a URL. */
const toWellFormed = (s: string) => s.replace(new RegExp(LONE_SURROGATE, "g"), "\uFFFD");

const sqlish = fc.constantFrom(
  "'; DROP TABLE api_keys; --",
  '" OR 1=1 --',
  "1; SELECT pg_sleep(10)",
  "$$; delete from users; $$",
  "\\'",
  "%' OR '%'='",
  "Robert'); DROP TABLE users;--",
);
const nastyChar = fc.constantFrom(
  "\u0000",
  "\u0007",
  "\n",
  "\u007f",
  "\u0085",
  "\u00a0",
  "\u2028",
  "\u202e",
  "\ufeff",
  "\ud800",
  "\udfff",
  "😀",
  "'",
  '"',
  "\\",
  "%",
  "/",
);
const text = fc.oneof(
  fc.string({ unit: "grapheme", maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.oneof(nastyChar, fc.string({ maxLength: 3 })), maxLength: 30 }),
  sqlish,
);
const anyJson = fc.jsonValue({ maxDepth: 3 });
/** Values of a JSON type other than string, for fields that want a string. */
const notString = fc.oneof(
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.boolean(),
  fc.array(anyJson, { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 5 }), anyJson, { maxKeys: 3 }),
);

interface Field {
  value: unknown;
  ok: boolean;
}
const good = (arb: fc.Arbitrary<unknown>) => arb.map((value): Field => ({ value, ok: true }));
const bad = (arb: fc.Arbitrary<unknown>) => arb.map((value): Field => ({ value, ok: false }));
/** Mostly valid values, so that accepted requests are common and their round trip is checked. */
const field = (valid: fc.Arbitrary<unknown>, invalid: fc.Arbitrary<unknown>) =>
  fc.oneof({ weight: 7, arbitrary: good(valid) }, { weight: 1, arbitrary: bad(invalid) });

const userId = field(
  fc.oneof(fc.stringMatching(USER_ID), fc.constantFrom("u1", "alice@example.com", "team:a.b-c_d")),
  fc.oneof(
    text.filter((s) => !USER_ID.test(s)),
    fc.nat({ max: 500 }).map((n) => "u".repeat(129 + n)),
    notString,
    fc.constant(null),
  ),
);
const name = field(
  fc.oneof(text, fc.string({ unit: "grapheme", minLength: 1, maxLength: 200 })).filter((s) => {
    const trimmed = s.trim();
    return trimmed.length > 0 && trimmed.length <= 200 && !CONTROL.test(s) && wellFormed(s);
  }),
  fc.oneof(
    // Postgres would store U+FFFD in its place: refused rather than changed.
    fc
      .tuple(text, fc.constantFrom("\ud800", "\udfff", "\udc00\ud800"), text)
      .map(([a, lone, b]) => `${a}x${lone}x${b}`),
    fc.constantFrom("", "   ", "\t"),
    // Inside the name: at either end, white space such as "\n" is trimmed away, as documented.
    fc
      .tuple(text, fc.constantFrom("\u0007", "\n", "\u001b", "\u007f"), text)
      .map(([a, c, b]) => `x${a}${c}${b}x`),
    fc.nat({ max: 500 }).map((n) => "n".repeat(201 + n)),
    notString,
    fc.constant(null),
  ),
);
const rateLimit = field(
  fc.oneof(fc.integer({ min: 1, max: 1_000_000_000 }), fc.constant(null)),
  fc.oneof(
    fc.integer({ max: 0 }),
    fc.integer({ min: 1_000_000_001 }),
    fc.double({ min: 1.000_001, max: 1e6, noNaN: true }).filter((n) => !Number.isInteger(n)),
    fc.constantFrom(1e300, -1e300, "10", true, [1], { n: 1 }),
  ),
);
const scopes = field(
  fc.array(fc.stringMatching(SCOPE), { maxLength: 10 }),
  fc.oneof(
    text.map((s) => [s]).filter(([s]) => !SCOPE.test(s as string)),
    fc.array(fc.stringMatching(SCOPE), { minLength: 65, maxLength: 70 }),
    fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.dictionary(fc.string(), fc.string())),
  ),
);
const expiresIn = field(
  fc.oneof(
    fc.constant("never"),
    fc.integer({ min: 1, max: 9999 }).map((n) => `${n}h`),
    fc.integer({ min: 1, max: 3650 }).map((n) => `${n}d`),
    fc.integer({ min: 1, max: 521 }).map((n) => `${n}w`),
    fc.integer({ min: 1, max: 10 }).map((n) => `${n}y`),
  ),
  fc.oneof(
    fc.constantFrom("0h", "11y", "3651d", "forever", "30D", "30", " 30d", "1e3d", "-1d"),
    text.filter((t) => !/^(never|\d{1,4}[hdwy])$/.test(t)),
    notString,
    fc.constant(null),
  ),
);
const DAY = 86_400_000;
const expiresAt = field(
  fc.oneof(
    fc
      .date({ min: new Date(Date.now() + DAY), max: new Date("9999-12-31T00:00:00Z"), noInvalidDate: true })
      .map((d) => d.toISOString()),
    fc.constant(null),
  ),
  fc.oneof(
    fc
      .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date(Date.now() - DAY), noInvalidDate: true })
      .map((d) => d.toISOString()),
    fc.constantFrom("tomorrow", "2099-01-01", "2099-13-01T00:00:00Z", "+275760-09-13T00:00:00.000Z"),
    text,
    notString,
  ),
);
/** JSON that jsonb stores and gives back as is: no NUL (Postgres has none), small, shallow. */
const metadataValue = fc.dictionary(
  fc.oneof(
    fc.string({ maxLength: 20 }),
    fc.string({ unit: "grapheme", maxLength: 10 }),
    fc.constant("__proto__"),
  ),
  fc.jsonValue({ maxDepth: 3, stringUnit: "grapheme" }),
  { maxKeys: 5 },
);
const metadata = field(
  metadataValue.filter((m) => {
    const json = JSON.stringify(m);
    return !json.includes("\\u0000") && !json.includes('"__proto__"') && json.length <= 16_384;
  }),
  fc.oneof(
    // A key object validators would drop, and text jsonb cannot hold.
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.parse(`{"__proto__":${JSON.stringify(v)}}`)),
    fc.constantFrom({ a: "\ud800" }, { "\udc00": 1 }, { a: { b: ["x\udfffy"] } }),
    fc.array(anyJson, { maxLength: 3 }),
    fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
    fc.nat({ max: 1_000 }).map((n) => ({ blob: "x".repeat(16_400 + n) })),
    fc.nat({ max: 5 }).map((n) => {
      let nested: unknown = 1;
      for (let i = 0; i < 9 + n; i++) nested = { a: nested };
      return nested;
    }),
    fc.nat({ max: 50 }).map((n) => ({ ["k".repeat(101 + n)]: 1 })),
  ),
);
const stripeCustomer = field(
  fc.oneof(fc.stringMatching(STRIPE_CUSTOMER), fc.constant(null)),
  fc.oneof(
    text.filter((s) => !STRIPE_CUSTOMER.test(s)),
    fc.integer(),
    fc.constant("cus_"),
  ),
);
const unknownField = fc
  .tuple(fc.oneof(fc.constantFrom("is_admin", "id", "key", "key_hash", "__proto__", ""), text), anyJson)
  .filter(([k]) => !KNOWN_FIELDS.has(k));
const KNOWN_FIELDS = new Set([
  "user_id",
  "name",
  "rate_limit_per_minute",
  "rate_limit_per_day",
  "scopes",
  "expires_at",
  "expires_in",
  "metadata",
  "stripe_customer_id",
]);

/** Half the time absent, as optional fields are. */
const optional = (f: fc.Arbitrary<Field>) => fc.oneof(fc.constant(undefined), f).map((v) => v ?? null);
/** At most one expiry usually; both (which is refused) now and then. */
const expiry = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  { weight: 3, arbitrary: expiresIn.map((expires_in) => ({ expires_in })) },
  { weight: 3, arbitrary: expiresAt.map((expires_at) => ({ expires_at })) },
  { weight: 1, arbitrary: fc.record({ expires_in: expiresIn, expires_at: expiresAt }) },
);
const createBody = fc
  .record({
    user_id: userId,
    name,
    rate_limit_per_minute: optional(rateLimit),
    rate_limit_per_day: optional(rateLimit),
    scopes: optional(scopes),
    metadata: optional(metadata),
    stripe_customer_id: optional(stripeCustomer),
    expiry,
    unknown: fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: unknownField }),
    drop: fc.oneof(
      { weight: 9, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("user_id", "name") },
    ),
  })
  .map(({ expiry, unknown, drop, ...rest }) => {
    const fields: Record<string, Field> = {};
    for (const [k, f] of Object.entries({ ...rest, ...expiry })) if (f && k !== drop) fields[k] = f;
    return { fields, unknown };
  });

const planId = field(
  fc.oneof(fc.stringMatching(PLAN_ID), fc.constantFrom("free", "pro", "team_2-x")),
  fc.oneof(
    text.filter((s) => !PLAN_ID.test(s)),
    fc.constantFrom("Pro", "a b", "plan/1", "é"),
    fc.nat({ max: 100 }).map((n) => "p".repeat(65 + n)),
    notString,
    fc.constant(null),
  ),
);
const monthlyQuota = field(
  fc.oneof(fc.bigInt({ min: 1n, max: 10n ** 15n }).map(Number), fc.constantFrom(1, 1e15), fc.constant(null)),
  fc.oneof(
    fc.integer({ max: 0 }),
    fc.constantFrom(1e15 + 1, 2 ** 53, 1e300, 1.5, "100", true, [1]),
    fc.double({ min: 1.000_001, max: 1e6, noNaN: true }).filter((n) => !Number.isInteger(n)),
  ),
);
const overage = field(
  fc.constantFrom("block", "bill"),
  fc.oneof(
    text.filter((s) => s !== "block" && s !== "bill"),
    fc.constantFrom("Block", "BILL", " bill"),
    notString,
    fc.constant(null),
  ),
);
const fraction = fc.oneof(
  fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }),
  fc.constantFrom(0.5, 0.8, 0.9, 1),
);
const notFraction = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).filter((n) => !(n > 0 && n <= 1)),
  fc.constantFrom(0, -0, 1.000_000_1, "0.5", null, true),
);
const alertThresholds = field(
  fc.array(fraction, { maxLength: 10 }),
  fc.oneof(
    fc.array(fraction, { minLength: 11, maxLength: 14 }),
    fc
      .tuple(fc.array(fraction, { maxLength: 8 }), notFraction, fc.nat({ max: 8 }))
      .map(([list, wrong, at]) => [...list.slice(0, at), wrong, ...list.slice(at)]),
    fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.dictionary(fc.string(), fc.double())),
  ),
);
const PLAN_FIELDS = new Set([
  "id",
  "name",
  "rate_limit_per_minute",
  "rate_limit_per_day",
  "monthly_quota",
  "overage",
  "alert_thresholds",
]);
const unknownPlanField = fc
  .tuple(fc.oneof(fc.constantFrom("price", "user_id", "users", "__proto__", ""), text), anyJson)
  .filter(([k]) => !PLAN_FIELDS.has(k));
const createPlanBody = fc
  .record({
    id: planId,
    name,
    rate_limit_per_minute: optional(rateLimit),
    rate_limit_per_day: optional(rateLimit),
    monthly_quota: optional(monthlyQuota),
    overage: optional(overage),
    alert_thresholds: optional(alertThresholds),
    unknown: fc.oneof(
      { weight: 9, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: unknownPlanField },
    ),
    drop: fc.oneof(
      { weight: 9, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("id", "name") },
    ),
  })
  .map(({ unknown, drop, ...rest }) => {
    const fields: Record<string, Field> = {};
    for (const [k, f] of Object.entries(rest)) if (f && k !== drop) fields[k] = f;
    return { fields, unknown };
  });

/** What a stored plan holds for thresholds that were sent: deduplicated and sorted. */
const storedThresholds = (sent: unknown) =>
  sent === undefined ? [0.8, 1] : [...new Set(sent as number[])].sort((a, b) => a - b);

/** The body as JSON text; own "__proto__" keys are kept as data, as JSON.parse on the server reads them. */
function bodyText(fields: Record<string, unknown>): string {
  const entries = Object.entries(fields).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  return `{${entries.join(",")}}`;
}

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v), "utf8").toString("base64url");
/**
 * Cursors are opaque base64url JSON, so a client can forge any: right keys with hostile values (NUL,
 * dates beyond Postgres's range), wrong keys, not JSON at all.
 */
const forgedCursor = fc.oneof(
  fc.tuple(text, text).map(([created_at, id]) => b64({ created_at, id })),
  fc
    .tuple(
      fc.date({ min: new Date("-271821-04-20T00:00:00Z"), max: new Date("+275760-09-13T00:00:00Z") }),
      fc.oneof(text, fc.stringMatching(KEY_ID)),
    )
    .map(([d, id]) => b64({ created_at: Number.isNaN(d.getTime()) ? "x" : d.toISOString(), id })),
  fc.oneof(text, fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String)).map((id) => b64({ id })),
  anyJson.map(b64),
  text.map((s) => encodeURIComponent(toWellFormed(s))),
);

// --- the properties -------------------------------------------------------------------------------

describe("generated request bodies", () => {
  test("POST /api/keys: valid bodies are stored verbatim, invalid ones are 400s that blame a bad field and write nothing", async ({
    api,
  }) => {
    const outcomes = { created: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(createBody, async (generated) => {
        const { fields, unknown } = generated;
        const sent: Record<string, unknown> = {};
        const badFields = new Set<string>();
        for (const [k, f] of Object.entries(fields) as [string, Field][]) {
          Object.defineProperty(sent, k, { value: f.value, enumerable: true });
          if (!f.ok) badFields.add(k);
        }
        if (unknown) {
          Object.defineProperty(sent, unknown[0], { value: unknown[1], enumerable: true });
          badFields.add(unknown[0]);
        }
        if (!("user_id" in fields)) badFields.add("user_id");
        if (!("name" in fields)) badFields.add("name");
        const bothExpiries = "expires_at" in fields && "expires_in" in fields;
        const valid = badFields.size === 0 && !bothExpiries;

        const before = await counts(api);
        const res = await send(api, "POST", "/api/keys", { body: bodyText(sent) });
        expectSafe(res, "POST", "create");
        if (!valid) {
          expect(res.status, res.text).toBe(400);
          expect(await counts(api)).toEqual(before);
          const blamed: string[] = (res.body.errors ?? []).map((e: { field: string }) => e.field);
          const blameable = [...badFields, "expires_in", "expires_at"];
          for (const f of blamed)
            expect(
              blameable.some((b) => f === b || f.startsWith(`${b}[`) || f.startsWith(`${b}.`)),
              f,
            ).toBe(true);
          outcomes.refused++;
          return;
        }
        expect(res.status, res.text).toBe(201);
        outcomes.created++;
        const after = await counts(api);
        expect(after.api_keys).toBe((before.api_keys ?? 0) + 1);
        expect(after.audit_events).toBe((before.audit_events ?? 0) + 1);
        const stored = (await send(api, "GET", `/api/keys/by-id/${res.body.id}`)).body;
        expect(stored.user_id).toBe(sent.user_id);
        expect(stored.name).toBe((sent.name as string).trim());
        expect(stored.rate_limit_per_minute).toBe(sent.rate_limit_per_minute ?? null);
        expect(stored.rate_limit_per_day).toBe(sent.rate_limit_per_day ?? null);
        expect(stored.scopes).toEqual([...new Set((sent.scopes as string[]) ?? [])].sort());
        expect(stored.metadata).toStrictEqual(JSON.parse(JSON.stringify(sent.metadata ?? {})));
        expect(Object.keys(stored.metadata).sort()).toEqual(Object.keys(sent.metadata ?? {}).sort());
        expect(stored.stripe_customer_id).toBe(sent.stripe_customer_id ?? null);
        if (typeof sent.expires_at === "string") {
          expect(Date.parse(stored.expires_at)).toBe(Date.parse(sent.expires_at));
        }
      }),
      { numRuns: 200 },
    );
    // The generator must reach both sides, or the property proves little.
    expect(outcomes.created).toBeGreaterThan(15);
    expect(outcomes.refused).toBeGreaterThan(15);
  });

  test("POST /api/plans: valid bodies are stored as sent, invalid ones are 400s that blame a bad field and write nothing", async ({
    api,
  }) => {
    const outcomes = { created: 0, refused: 0, duplicate: 0 };
    const existing = new Set<string>();
    await fc.assert(
      fc.asyncProperty(createPlanBody, async ({ fields, unknown }) => {
        const sent: Record<string, unknown> = {};
        const badFields = new Set<string>();
        for (const [k, f] of Object.entries(fields) as [string, Field][]) {
          Object.defineProperty(sent, k, { value: f.value, enumerable: true });
          if (!f.ok) badFields.add(k);
        }
        if (unknown) {
          Object.defineProperty(sent, unknown[0], { value: unknown[1], enumerable: true });
          badFields.add(unknown[0]);
        }
        for (const required of ["id", "name"]) if (!(required in fields)) badFields.add(required);

        const before = await counts(api);
        const res = await send(api, "POST", "/api/plans", { body: bodyText(sent) });
        expectSafe(res, "POST", bodyText(sent).slice(0, 300));
        if (badFields.size > 0 || existing.has(sent.id as string)) {
          expect(await counts(api)).toEqual(before);
          if (badFields.size === 0) {
            expect(res.status, res.text).toBe(409);
            outcomes.duplicate++;
            return;
          }
          expect(res.status, res.text).toBe(400);
          const blamed: string[] = (res.body.errors ?? []).map((e: { field: string }) => e.field);
          for (const f of blamed)
            expect(
              [...badFields].some((b) => f === b || f.startsWith(`${b}[`)),
              `${f} of ${[...badFields]}`,
            ).toBe(true);
          outcomes.refused++;
          return;
        }
        expect(res.status, res.text).toBe(201);
        existing.add(sent.id as string);
        outcomes.created++;
        const after = await counts(api);
        expect(after.plans).toBe((before.plans ?? 0) + 1);
        expect(after.audit_events).toBe((before.audit_events ?? 0) + 1);
        const stored = (await send(api, "GET", `/api/plans/${sent.id}`)).body;
        expect(stored).toMatchObject({
          id: sent.id,
          name: (sent.name as string).trim(),
          rate_limit_per_minute: sent.rate_limit_per_minute ?? null,
          rate_limit_per_day: sent.rate_limit_per_day ?? null,
          monthly_quota: sent.monthly_quota ?? null,
          overage: sent.overage ?? "block",
        });
        expect(stored.alert_thresholds).toEqual(storedThresholds(sent.alert_thresholds));
      }),
      { numRuns: 200 },
    );
    expect(outcomes.created).toBeGreaterThan(15);
    expect(outcomes.refused).toBeGreaterThan(15);
  });

  test("raw bodies to every route that takes one: never a 5xx, a refusal writes nothing", async ({ api }) => {
    const key = await api.createKey();
    expect((await send(api, "POST", "/api/plans", { body: '{"id":"gold","name":"Gold"}' })).status).toBe(201);
    let accepted = 0;
    const routes: [string, string][] = [
      ["POST", "/api/keys"],
      ["PATCH", `/api/keys/by-id/${key.id}`],
      ["POST", `/api/keys/by-id/${key.id}/rotate`],
      ["PUT", "/api/users/alice"],
      ["POST", "/api/management-keys"],
      ["POST", "/v1/keys/verify"],
      ["POST", "/api/plans"],
      ["PATCH", "/api/plans/gold"],
    ];
    const body = fc.oneof(
      text,
      anyJson.map((v) => JSON.stringify(v)),
      fc.jsonValue({ maxDepth: 4, stringUnit: "binary" }).map((v) => JSON.stringify(v)),
      fc.constantFrom('{"user_id": "u1", ', "{", "}", "[", "nul", "tru", '"\\ud800"', "{}garbage", "\u0000"),
      fc.nat({ max: 100_000 }).map((n) => `${"[".repeat(n)}${"]".repeat(n)}`),
      fc.nat({ max: 200 }).map((n) => `{"metadata":${'{"a":'.repeat(n)}1${"}".repeat(n)}}`),
      fc.tuple(text, text).map(([k, v]) => JSON.stringify({ [k]: v })),
      fc.constantFrom(
        '{"name":"a\\u0000b"}',
        '{"grace_period":"\\u0000"}',
        '{"stripe_customer_id":"cus_\\u0000"}',
        '{"id":"a\\u0000","name":"x"}',
        '{"plan_id":"gold\\u0000"}',
        '{"billing_cycle_anchor":"2026-01-01T00:00:00\\u0000Z"}',
        '{"alert_thresholds":[1e-400, 1e400]}',
        '{"monthly_quota":1e15}',
        '{"monthly_quota":1000000000000000.5}',
        '{"monthly_quota":99999999999999999999999}',
      ),
    );
    // Bodies of the shape each route accepts, carrying hostile text into every field it stores.
    const json = fc.jsonValue({ maxDepth: 2 });
    const hostileJson = fc.oneof(text, fc.array(text, { maxLength: 3 }), json);
    const shaped = [
      fc.record({
        user_id: fc.oneof(fc.constant("u1"), text),
        name: text,
        metadata: fc.dictionary(text, hostileJson),
      }),
      fc.record(
        { name: text, metadata: fc.dictionary(text, hostileJson), scopes: fc.array(text, { maxLength: 3 }) },
        { requiredKeys: [] },
      ),
      fc.record({ grace_period: fc.oneof(text, fc.constantFrom("0s", "24h", "30d", "31d", "1e3s")) }),
      fc.record(
        {
          stripe_customer_id: fc.oneof(text, fc.constant("cus_A1"), fc.constant(null)),
          plan_id: fc.oneof(fc.constantFrom("gold", "nope", null), text),
          billing_cycle_anchor: fc.oneof(
            fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
            fc.constantFrom(null, "2026-01-31T10:00:00+02:00", "2026-01-31T10:00:00", "1969-12-31T23:59:59Z"),
            text,
          ),
        },
        { requiredKeys: [] },
      ),
      fc.record(
        {
          name: text,
          scopes: fc.array(fc.oneof(fc.constantFrom(...SCOPES), text), { maxLength: 4 }),
          user_id: fc.oneof(fc.constant("u1"), fc.constant(null), text),
          expires_in: fc.oneof(fc.constantFrom("1h", "90d", "never"), text),
        },
        { requiredKeys: ["name", "scopes"] },
      ),
      fc.record(
        {
          key: fc.oneof(fc.constant(key.key), text, fc.constant(new KeyFormat("gw").generate())),
          required_scopes: fc.array(text, { maxLength: 3 }),
          cost: fc.oneof(fc.integer({ min: -5, max: 2_000_000 }), fc.double(), text),
          consume: fc.oneof(fc.boolean(), text),
        },
        { requiredKeys: ["key"] },
      ),
      fc.record(
        {
          id: fc.oneof(fc.stringMatching(PLAN_ID), fc.constant("gold"), text),
          name: fc.oneof(fc.constant("Plan"), text),
          rate_limit_per_minute: fc.oneof(
            fc.integer({ min: -5, max: 2_000_000_000 }),
            fc.constant(null),
            text,
          ),
          monthly_quota: fc.oneof(fc.bigInt({ min: 0n, max: 10n ** 16n }).map(Number), fc.double(), text),
          overage: fc.oneof(fc.constantFrom("block", "bill"), text),
          alert_thresholds: fc.array(fc.oneof(fraction, fc.double(), text), { maxLength: 4 }),
        },
        { requiredKeys: ["id", "name"] },
      ),
      fc.record(
        {
          name: fc.oneof(fc.constant("Gold"), text),
          rate_limit_per_day: fc.oneof(fc.integer({ min: -5, max: 2_000_000_000 }), fc.constant(null), text),
          monthly_quota: fc.oneof(
            fc.bigInt({ min: 0n, max: 10n ** 16n }).map(Number),
            fc.constant(null),
            text,
          ),
          overage: fc.oneof(fc.constantFrom("block", "bill"), text),
          alert_thresholds: fc.array(fc.oneof(fraction, fc.double(), text), { maxLength: 4 }),
        },
        { requiredKeys: [] },
      ),
    ].map((shape, i) =>
      fc.tuple(
        fc.constant(routes[i] as [string, string]),
        shape.map((b) => JSON.stringify(b)),
      ),
    );
    // Mostly JSON, so that bodies reach the validators and the database, not only the parser's gate.
    const contentType = fc.oneof(
      { weight: 6, arbitrary: fc.constant("application/json") },
      {
        weight: 2,
        arbitrary: fc.constantFrom(
          "application/json; charset=utf-8",
          "application/json; charset=utf-16",
          "application/json; charset=latin1",
          "application/json; charset=nonsense",
          "application/merge-patch+json",
          "text/plain",
          "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x",
          "",
        ),
      },
    );
    const encoding = fc.oneof(
      { weight: 8, arbitrary: fc.constant(null) },
      { weight: 1, arbitrary: fc.constantFrom("gzip", "deflate", "br", "identity", "x-unknown") },
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.tuple(fc.constantFrom(...routes), body), ...shaped),
        contentType,
        encoding,
        async ([[method, path], payload], type, contentEncoding) => {
          const before = await counts(api);
          const headers: Record<string, string> = { "content-type": type };
          if (contentEncoding) headers["content-encoding"] = contentEncoding;
          const res = await send(api, method, path, { body: payload, headers });
          expectSafe(res, method, `${method} ${path} ${type}`);
          if (res.status >= 400) {
            expect(await counts(api)).toEqual(before);
            return;
          }
          accepted++;
          // Accepted: what is stored is what was sent (names are trimmed, as documented).
          const sent = payload.trim() === "" ? {} : JSON.parse(payload);
          if (path.startsWith("/api/users/")) {
            // A partial PUT: the fields sent are stored; the others keep what they had.
            const shown = (await send(api, "GET", path)).body;
            if ("stripe_customer_id" in sent) expect(shown.stripe_customer_id).toBe(sent.stripe_customer_id);
            if ("plan_id" in sent) expect(shown.plan_id).toBe(sent.plan_id);
            if ("billing_cycle_anchor" in sent) {
              const anchor = sent.billing_cycle_anchor;
              expect(shown.billing_cycle_anchor).toBe(
                anchor === null ? null : new Date(anchor).toISOString(),
              );
            }
            return;
          }
          if (path.startsWith("/api/plans")) {
            const stored = (await send(api, "GET", `/api/plans/${method === "POST" ? sent.id : "gold"}`))
              .body;
            if (sent.name !== undefined) expect(stored.name).toBe(sent.name.trim());
            for (const f of ["rate_limit_per_minute", "rate_limit_per_day", "monthly_quota", "overage"]) {
              if (sent[f] !== undefined) expect(stored[f], f).toBe(sent[f]);
            }
            if (sent.alert_thresholds !== undefined) {
              expect(stored.alert_thresholds).toEqual(storedThresholds(sent.alert_thresholds));
            }
            return;
          }
          if (path.endsWith("/rotate")) return;
          if (path === "/v1/keys/verify") {
            expect(VERIFY_CODES).toContain(res.body.code);
            expect(await counts(api)).toEqual(before);
            return;
          }
          if (path === "/api/management-keys") {
            const stored = (await send(api, "GET", `/api/management-keys/${res.body.id}`)).body;
            expect(stored.name).toBe(sent.name.trim());
            expect(stored.scopes).toEqual([...new Set(sent.scopes)].sort());
            return;
          }
          const id = method === "POST" ? res.body.id : key.id;
          const stored = (await send(api, "GET", `/api/keys/by-id/${id}`)).body;
          if (sent.name !== undefined) expect(stored.name).toBe(sent.name.trim());
          if (sent.metadata !== undefined) expect(stored.metadata).toStrictEqual(sent.metadata);
          if (sent.scopes !== undefined) expect(stored.scopes).toEqual([...new Set(sent.scopes)].sort());
        },
      ),
      { numRuns: 200 },
    );
    expect(accepted).toBeGreaterThan(5);
  });
});

describe("generated paths and query strings", () => {
  /** Path segments as an attacker writes them: traversal, encodings, NUL, SQL, very long, unicode. */
  const segment = fc.oneof(
    fc.constantFrom(
      "..",
      "../..",
      "..%2F..%2Fetc%2Fpasswd",
      "%2e%2e%2f%2e%2e%2f",
      "..%252F..%252F",
      "..\\..\\windows",
      "%00",
      "a%00b",
      "%ZZ",
      "%E0%A4%A",
      "%C0%AE%C0%AE",
      "key_%00",
      "*",
      "%20",
      "~root",
    ),
    fc.nat({ max: 6_000 }).map((n) => "k".repeat(n + 1)),
    text.map((s) => encodeURIComponent(toWellFormed(s))),
    sqlish.map((s) => encodeURIComponent(s)),
    fc.stringMatching(USER_ID),
    fc.stringMatching(KEY_ID),
    fc.string({ unit: fc.constantFrom("a", "/", ".", "%", "2", "F", "e", "\\"), maxLength: 20 }),
  );
  const decoded = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return null;
    }
  };

  test("every route with a path parameter: below 500, problems for 4xx, nothing written unless accepted", async ({
    api,
  }) => {
    const key = await api.createKey();
    const routes = [
      ["GET", "/api/keys/{}"],
      ["DELETE", "/api/keys/{}"],
      ["GET", "/api/keys/by-id/{}"],
      ["PATCH", "/api/keys/by-id/{}"],
      ["POST", "/api/keys/by-id/{}/rotate"],
      ["PUT", "/api/users/{}"],
      ["PUT", "/api/users/{}"], // twice: the one route where a generated segment is often accepted
      ["GET", "/api/users/{}"],
      ["GET", "/api/management-keys/{}"],
      ["DELETE", "/api/management-keys/{}"],
      ["GET", "/api/plans/{}"],
      ["PATCH", "/api/plans/{}"],
      ["DELETE", "/api/plans/{}"],
      ["GET", "/api/{}"],
      ["GET", "/{}"],
      ["OPTIONS", "/api/keys/{}"],
      ["HEAD", "/api/keys/by-id/{}"],
      ["PROPFIND", "/api/keys/{}"],
    ] as const;
    let usersCreated = 0;
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...routes), segment, async ([method, template], seg) => {
        // Never the real key's id: revoking or rotating it is legitimate, not what is tested here.
        fc.pre(!seg.includes(key.id));
        const path = template.replace("{}", seg);
        const before = await counts(api);
        const hasBody = method === "PATCH" || method === "PUT" || method === "POST";
        const res = await send(api, method, path, {
          ...(hasBody ? { body: method === "PUT" ? '{"stripe_customer_id":null}' : "{}" } : {}),
        });
        expectSafe(res, method, `${method} ${path.slice(0, 200)}`);
        const after = await counts(api);
        // A raw "/" changes which route is asked for (one at the end is ignored, as express does);
        // otherwise the segment is the user id.
        const bare = seg.endsWith("/") ? seg.slice(0, -1) : seg;
        const user = bare.includes("/") ? null : decoded(bare);
        if (method === "PUT" && user !== null && USER_ID.test(user)) {
          // A well-formed user id is legitimately accepted: it is stored exactly as decoded.
          expect(res.status, res.text).toBe(200);
          expect(res.body.user_id).toBe(user);
          const rows = await api.query("select user_id from users where user_id = $1", [user]);
          expect(rows).toEqual([{ user_id: user }]);
          usersCreated++;
          return;
        }
        expect(res.status, path).not.toBe(method === "PUT" ? 200 : -1);
        expect(after).toEqual(before);
      }),
      { numRuns: 250 },
    );
    expect(usersCreated).toBeGreaterThan(0);
  });

  test("forged cursors on the paged routes: a 400 problem or a page, never a 5xx", async ({ api }) => {
    await api.createKey({ user_id: "alice" });
    await api.request("POST", "/api/plans", { body: { id: "gold", name: "Gold" } });
    const route = fc.constantFrom(
      "/api/keys/alice",
      "/api/keys",
      "/api/keys?status=active&q=test",
      "/api/users",
      "/api/plans",
      "/api/management-keys",
      "/api/audit",
      "/api/audit?action=key.created",
    );
    const limit = fc.option(fc.integer({ min: 1, max: 100 }));
    await fc.assert(
      fc.asyncProperty(route, forgedCursor, limit, async (path, cursor, n) => {
        const query = `cursor=${encodeURIComponent(cursor)}${n === null ? "" : `&limit=${n}`}`;
        const res = await send(api, "GET", `${path}${path.includes("?") ? "&" : "?"}${query}`);
        expectSafe(res, "GET", `${path} cursor ${Buffer.from(cursor, "base64url").toString()}`);
        if (res.status === 200) expect(res.body.data).toEqual(expect.any(Array));
        else expect(res.status).toBe(400);
      }),
      { numRuns: 150 },
    );
  });

  test("random query strings on every GET route: below 500, problems for 4xx, nothing written", async ({
    api,
  }) => {
    const key = await api.createKey({ user_id: "alice" });
    await api.request("POST", "/api/plans", { body: { id: "gold", name: "Gold" } });
    const routes = [
      "/api/keys/alice",
      "/api/keys",
      `/api/keys/by-id/${key.id}`,
      "/api/users",
      "/api/users/alice",
      "/api/plans",
      "/api/plans/gold",
      "/api/management-keys",
      "/api/audit",
      "/api/usage",
      "/api/openapi.json",
      "/health",
      "/ready",
      "/metrics",
    ];
    const names = fc.oneof(
      fc.constantFrom(
        "limit",
        "cursor",
        "user_id",
        "key_id",
        "action",
        "from",
        "to",
        "granularity",
        "format",
        "status",
        "q",
        "created_after",
        "created_before",
        "actor_id",
        "stripe_customer_id",
      ),
      fc.constantFrom("user_id[]", "limit[a]", "__proto__", "constructor", ""),
      fc.string({ unit: "grapheme-ascii", maxLength: 10 }),
    );
    const values = fc.oneof(
      text,
      forgedCursor,
      fc.integer().map(String),
      fc.constantFrom("0", "-1", "1e3", "100000", "NaN", "Infinity", "0x10", " 5", "5 "),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
      fc.constantFrom(
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-02-30T00:00:00Z",
        "2026-11-01T00:00:00+14:00",
        "2026-11-01",
        "yesterday",
      ),
      fc.constantFrom("minute", "hour", "day", "week", "csv", "json", "xml"),
      fc.constantFrom(
        "key.created",
        "key.deleted",
        "user.billing_updated",
        "user.plan_updated",
        "plan.created",
        "management_key.created",
      ),
      fc.constantFrom(
        "active",
        "revoked",
        "expired",
        "disabled",
        "deleted",
        "admin_token",
        "cus_A1",
        "%",
        "_",
        "\\",
      ),
    );
    const pair = fc.tuple(names, values, fc.boolean());
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...routes),
        fc.array(pair, { maxLength: 6 }),
        fc.constantFrom("application/json", "text/csv", "*/*", "text/csv;q=0.9, application/json;q=0.1"),
        async (route, pairs, accept) => {
          // Mostly encoded as a client library would; sometimes raw, as a hand-written URL would be.
          const query = pairs
            .map(([k, v, raw]) =>
              raw
                ? `${encodeURI(toWellFormed(k))}=${encodeURI(toWellFormed(v))}`
                : `${encodeURIComponent(toWellFormed(k))}=${encodeURIComponent(toWellFormed(v))}`,
            )
            .join("&");
          const before = await counts(api);
          const res = await send(api, "GET", `${route}?${query}`, { headers: { accept } });
          expectSafe(res, "GET", `${route}?${query.slice(0, 300)}`);
          expect(await counts(api)).toEqual(before);
        },
      ),
      { numRuns: 250 },
    );
    console.log(`hostile-rest: ${tried} requests tried`);
  });
});

describe("the webhook routes", () => {
  const HOOK_ID = /^wh_[0-9A-Za-z]{22}$/;
  /** Hosts a webhook must never reach, however written, and public ones that it may. */
  const forbiddenHost = fc.constantFrom(
    "127.0.0.1",
    "127.1",
    "0x7f.1",
    "2130706433",
    "0",
    "10.0.0.1",
    "172.16.0.1",
    "192.168.0.1",
    "169.254.169.254",
    "100.64.0.1",
    "[::1]",
    "[::]",
    "[::ffff:127.0.0.1]",
    "[::ffff:a00:1]",
    "[fe80::1]",
    "[fd00::1]",
    "localhost",
    "LocalHost.",
    "no-such-host.invalid",
  );
  const host = fc.oneof(
    forbiddenHost,
    { weight: 5, arbitrary: fc.constantFrom("93.184.215.14", "8.8.8.8", "[2606:4700::1111]") },
    fc.ipV4(),
    fc.ipV6().map((a) => `[${a}]`),
    fc.domain(),
  );
  const url = fc.oneof(
    {
      weight: 6,
      arbitrary: fc
        .tuple(
          fc.oneof(
            { weight: 4, arbitrary: fc.constantFrom("http", "https", "HTTPS") },
            { weight: 1, arbitrary: fc.constantFrom("ftp", "file", "javascript", "gopher", "ws") },
          ),
          rarely(fc.constantFrom("user@", "user:pw@", ":@")),
          host,
          fc.option(fc.integer({ min: 0, max: 70_000 }), { freq: 2 }),
          fc.oneof(
            fc.constantFrom("", "/"),
            fc.webPath(),
            fc.webQueryParameters().map((q) => `/h?${q}`),
            text.map((s) => `/${s}`),
          ),
        )
        .map(
          ([scheme, auth, h, port, path]) =>
            `${scheme}://${auth ?? ""}${h}${port === null ? "" : `:${port}`}${path}`,
        ),
    },
    { weight: 1, arbitrary: text },
    { weight: 1, arbitrary: notString },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "//93.184.215.14/",
        " https://93.184.215.14/",
        "https://93.184.215.14/\u0000",
        "https://93.184.215.14/a b",
        "https://93.184.215.14\\@127.0.0.1/",
        "https://127.0.0.1#@93.184.215.14/",
        `https://93.184.215.14/${"a".repeat(2_100)}`,
      ),
    },
  );
  const types = ["key.created", "key.rotated", "key.revoked", "quota.threshold"] as const;
  const events = fc.oneof(
    { weight: 6, arbitrary: fc.array(fc.constantFrom(...types), { minLength: 1, maxLength: 6 }) },
    { weight: 1, arbitrary: fc.constant([]) },
    { weight: 1, arbitrary: fc.array(fc.oneof(fc.constantFrom(...types), text), { maxLength: 3 }) },
    { weight: 1, arbitrary: notString },
  );
  const owner = fc.oneof({ weight: 4, arbitrary: fc.stringMatching(USER_ID) }, text, notString);
  const extra = fc.tuple(
    fc.oneof(fc.constantFrom("secret", "id", "__proto__", "created_by", ""), fc.string({ maxLength: 8 })),
    anyJson,
  );
  /** null mostly, the value one time in eight. */
  function rarely<T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> {
    return fc.oneof({ weight: 7, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: arb });
  }
  const hostOf = (u: string) => {
    try {
      return new URL(u).hostname.replace(/^\[(.*)\]$/, "$1");
    } catch {
      return null;
    }
  };

  test("POST /api/webhooks: a non-public host is never stored; accepted bodies are stored as parsed; refusals write nothing", async ({
    api,
  }) => {
    const outcomes = { created: 0, refused: 0 };
    const shaped = fc
      .record({ url, events, user_id: owner, extra: rarely(extra) }, { requiredKeys: ["url", "events"] })
      .map(({ extra: more, ...fields }) => {
        const sent: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(fields))
          Object.defineProperty(sent, k, { value: v, enumerable: true });
        if (more && !(more[0] in sent))
          Object.defineProperty(sent, more[0], { value: more[1], enumerable: true });
        return sent;
      });
    const raw = fc.oneof(
      text,
      anyJson.map((v) => JSON.stringify(v)),
      fc.constantFrom("{", '{"url":', "[]", "null"),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          { weight: 6, arbitrary: shaped.map((b) => ({ sent: b, body: bodyText(b) })) },
          {
            weight: 1,
            arbitrary: raw.map((body) => ({ sent: null, body })),
          },
        ),
        async ({ sent, body }) => {
          const before = await api.rowCounts();
          const res = await send(api, "POST", "/api/webhooks", { body });
          expectSafe(res, "POST", `POST /api/webhooks ${body.slice(0, 200)}`);
          if (res.status !== 201) {
            expect(res.status, res.text).toBe(400);
            expect(await api.rowCounts()).toEqual(before);
            outcomes.refused++;
            return;
          }
          outcomes.created++;
          expect(sent).not.toBeNull();
          const given = sent as { url: string; events: string[]; user_id?: string };
          const stored = (await send(api, "GET", `/api/webhooks/${res.body.id}`)).body;
          expect(stored.url).toBe(new URL(given.url).href);
          expect(stored.events).toEqual([...new Set(given.events)].sort());
          expect(stored.user_id).toBe(given.user_id ?? null);
          expect(res.body.secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
          expect(stored.secret).toBeUndefined();
          expect(HOOK_ID.test(res.body.id)).toBe(true);
          const h = hostOf(given.url) ?? "";
          // An address literal (as the URL parser writes it) must be public; a name must have resolved to one.
          const literal = h.includes(":") || /^\d+\.\d+\.\d+\.\d+$/.test(h);
          expect(!literal || isPublicAddress(h), `stored ${given.url}`).toBe(true);
          if (literal) expect(h).not.toMatch(/^(127\.|10\.|0\.|169\.254\.|::1?$|fe80:|f[cd][0-9a-f]{0,2}:)/i);
          else expect(h).not.toBe("localhost");
          expect((await api.rowCounts()).webhooks).toBe((before.webhooks ?? 0) + 1);
        },
      ),
      { numRuns: 200 },
    );
    expect(outcomes.created).toBeGreaterThan(10);
    expect(outcomes.refused).toBeGreaterThan(30);
  });

  test("generated ids, cursors and query strings on the webhook routes: below 500, nothing written", async ({
    api,
  }) => {
    const hook = (
      await send(api, "POST", "/api/webhooks", {
        body: JSON.stringify({ url: "https://93.184.215.14/h", events: ["quota.threshold"] }),
      })
    ).body;
    const segment = fc.oneof(
      fc.constantFrom("..", "%2e%2e", "%00", "wh_%00", "*", "%20", "wh_0000000000000000000000", "deliveries"),
      fc.nat({ max: 6_000 }).map((n) => "w".repeat(n + 1)),
      text.map((s) => encodeURIComponent(toWellFormed(s))),
      sqlish.map((s) => encodeURIComponent(s)),
      fc.stringMatching(HOOK_ID),
    );
    const template = fc.constantFrom(
      "GET /api/webhooks/{}",
      "DELETE /api/webhooks/{}",
      "GET /api/webhooks/{}/deliveries",
      "POST /api/webhooks/{}",
    );
    const query = fc
      .array(
        fc.tuple(
          fc.oneof(fc.constantFrom("limit", "cursor", "user_id", "status", "user_id[]", "__proto__"), text),
          fc.oneof(
            text,
            forgedCursor,
            fc.constantFrom("pending", "delivered", "dead", "0", "-1", "101", "1e3", "alice"),
          ),
        ),
        { maxLength: 4 },
      )
      .map((pairs) =>
        pairs
          .map(([k, v]) => `${encodeURIComponent(toWellFormed(k))}=${encodeURIComponent(toWellFormed(v))}`)
          .join("&"),
      );
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.tuple(template, segment).map(([t, seg]) => t.replace("{}", seg)),
          fc
            .tuple(
              fc.constantFrom(
                "GET /api/webhooks",
                `GET /api/webhooks/${hook.id}`,
                `GET /api/webhooks/${hook.id}/deliveries`,
              ),
              query,
            )
            .map(([r, q]) => `${r}?${q}`),
        ),
        async (line) => {
          const [method, path] = line.split(" ", 2) as [string, string];
          const before = await api.rowCounts();
          const res = await send(api, method, path, method === "POST" ? { body: "{}" } : {});
          expectSafe(res, method, `${method} ${path.slice(0, 200)}`);
          if (res.status === 200) expect(method).toBe("GET");
          expect(await api.rowCounts()).toEqual(before);
        },
      ),
      { numRuns: 250 },
    );
    expect((await send(api, "GET", `/api/webhooks/${hook.id}`)).status).toBe(200);
  });
});
