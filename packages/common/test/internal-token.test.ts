import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { z } from "zod";
import { INTERNAL_TOKEN_HEADER, InternalTokenCheck, internalToken, parseConfig } from "../src/index.js";

const TOKEN = "0123456789abcdef0123456789abcdef";
const CHECK = "/envoy.service.auth.v3.Authorization/Check";
const parse = (env: NodeJS.ProcessEnv) => parseConfig(z.object({ INTERNAL_TOKEN: internalToken() }), env);

describe("INTERNAL_TOKEN in the config", () => {
  test("is optional, with no default; blank counts as unset", () => {
    expect(parse({}).INTERNAL_TOKEN).toBeUndefined();
    expect(parse({ INTERNAL_TOKEN: "" }).INTERNAL_TOKEN).toBeUndefined();
  });

  test("takes 32 or more characters a header and envoy.yaml carry as they are", () => {
    expect(parse({ INTERNAL_TOKEN: TOKEN }).INTERNAL_TOKEN).toBe(TOKEN);
    expect(parse({ INTERNAL_TOKEN: "aB3._~+/=-".repeat(4) }).INTERNAL_TOKEN).toHaveLength(40);
    expect(() => parse({ INTERNAL_TOKEN: TOKEN.slice(1) })).toThrow(/INTERNAL_TOKEN: must be at least 32/);
    for (const bad of [`${TOKEN} x`, `${TOKEN}"`, `${TOKEN}#`, `${TOKEN}\n`, `${TOKEN}é`, `${TOKEN}$`])
      expect(() => parse({ INTERNAL_TOKEN: bad }), JSON.stringify(bad)).toThrow(
        /INTERNAL_TOKEN: may only hold/,
      );
    expect(() => parse({ INTERNAL_TOKEN: "a".repeat(1025) })).toThrow(/at most 1024/);
  });
});

describe("InternalTokenCheck", () => {
  test("without a token every call passes, whatever it carries", () => {
    const check = new InternalTokenCheck({ token: undefined });
    expect(check.enabled).toBe(false);
    expect(check.allows(CHECK, [])).toBe(true);
    expect(check.allowsHeaders(CHECK, [[INTERNAL_TOKEN_HEADER, "x"]])).toBe(true);
  });

  test("with one, exactly one matching value passes; health is open", () => {
    const refused: string[] = [];
    const check = new InternalTokenCheck({ token: TOKEN, onRefused: (s) => refused.push(s) });
    expect(check.allows(CHECK, [TOKEN])).toBe(true);
    expect(
      check.allowsHeaders(CHECK, [
        ["te", "trailers"],
        [INTERNAL_TOKEN_HEADER, TOKEN],
      ]),
    ).toBe(true);
    expect(check.allows("/grpc.health.v1.Health/Check", [])).toBe(true);
    expect(check.allows("/grpc.health.v1.Health/Watch", [])).toBe(true);
    expect(check.allows(CHECK, [])).toBe(false);
    expect(check.allows(CHECK, [TOKEN, TOKEN])).toBe(false);
    expect(check.allows(CHECK, [Buffer.from(TOKEN)])).toBe(false);
    expect(check.allowsHeaders(CHECK, [[`${INTERNAL_TOKEN_HEADER}-bin`, TOKEN]])).toBe(false);
    expect(check.allows("/grpc.health.v1.Healthy/Check", [])).toBe(false);
    expect(refused).toEqual([
      "envoy.service.auth.v3.Authorization",
      "envoy.service.auth.v3.Authorization",
      "envoy.service.auth.v3.Authorization",
      "envoy.service.auth.v3.Authorization",
      "grpc.health.v1.Healthy",
    ]);
  });

  test("no list of values other than [token] passes", () => {
    const check = new InternalTokenCheck({ token: TOKEN });
    const value = fc.oneof(
      fc.string({ unit: "binary", maxLength: 40 }),
      fc.nat({ max: TOKEN.length - 1 }).map((n) => TOKEN.slice(0, n)),
      fc.string({ minLength: 1, maxLength: 3 }).map((s) => TOKEN + s),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b)),
      fc.constant(TOKEN),
      fc.anything(),
    );
    fc.assert(
      fc.property(fc.array(value, { maxLength: 4 }), (values) => {
        const exact = values.length === 1 && values[0] === TOKEN;
        expect(check.allows(CHECK, values)).toBe(exact);
      }),
      { numRuns: 2_000 },
    );
  });

  test("refusals are logged at most once a second, never with the value", () => {
    const lines: unknown[] = [];
    const logger = { warn: (fields: unknown, message: string) => lines.push({ fields, message }) } as never;
    const check = new InternalTokenCheck({ token: TOKEN, logger });
    for (let i = 0; i < 100; i++) check.allows(CHECK, [`guess-${i}`]);
    expect(lines).toEqual([
      {
        fields: { grpc_service: "envoy.service.auth.v3.Authorization", refused: 1 },
        message: "gRPC calls without a valid x-gateway-token refused",
      },
    ]);
  });
});
