// biome-ignore-all lint/suspicious/noTemplateCurlyInString: Compose's ${VAR} syntax is what these tests are about.
// The small readers the deployment checks stand on: if one of them were lenient, the checks above it
// would pass whatever the files said.
import { describe, expect, test } from "vitest";
import { buildStages, execForm, parseDockerfile } from "../src/deploy/dockerfile.js";
import { parseEnvFile } from "../src/deploy/env-file.js";
import { interpolate, referencedVariables } from "../src/deploy/interpolate.js";
import { validateJsonSchema } from "../src/deploy/json-schema.js";

describe("compose variable substitution", () => {
  const vars = { SET: "value", EMPTY: "" };

  test.each([
    ["${SET}", "value"],
    ["$SET/x", "value/x"],
    ["${UNSET}", ""],
    ["${UNSET:-fallback}", "fallback"],
    ["${EMPTY:-fallback}", "fallback"],
    ["${EMPTY-fallback}", ""],
    ["${SET:+alt}", "alt"],
    ["${UNSET+alt}", ""],
    ["$${SET}", "${SET}"],
    ["a ${SET} b ${UNSET:-c}", "a value b c"],
  ])("%s → %s", (text, expected) => {
    expect(interpolate(text, vars)).toBe(expected);
  });

  test("${VAR:?message} refuses an unset or empty variable, with the message", () => {
    expect(() => interpolate("${UNSET:?set it in .env}", vars)).toThrow("UNSET: set it in .env");
    expect(() => interpolate("${EMPTY:?required}", vars)).toThrow("EMPTY: required");
    expect(() => interpolate("${EMPTY?required}", vars)).not.toThrow();
    expect(interpolate("${SET:?required}", vars)).toBe("value");
  });

  test("finds the variables a text refers to, but not escaped ones", () => {
    expect([...referencedVariables("${A} $B ${C:-x} $${D}")]).toEqual(["A", "B", "C"]);
  });
});

describe("JSON Schema subset", () => {
  const schema = {
    definitions: { port: { type: ["integer", "string"], minimum: 1 } },
    type: "object",
    required: ["name"],
    properties: {
      name: { type: "string", pattern: "^[a-z]+$" },
      ports: { type: "array", items: { $ref: "#/definitions/port" }, uniqueItems: true },
      mode: { enum: ["a", "b"] },
      either: { oneOf: [{ type: "string" }, { type: "object", properties: { x: { type: "integer" } } }] },
    },
    patternProperties: { "^x-": {} },
    additionalProperties: false,
  };

  test("a valid document has no issue", () => {
    expect(validateJsonSchema(schema, { name: "ok", ports: [80, "443"], mode: "a", "x-any": 1 })).toEqual([]);
  });

  test.each([
    [{}, "(root)", /needs name/],
    [{ name: "ok", extra: 1 }, "extra", /not a known property/],
    [{ name: "NO" }, "name", /must match/],
    [{ name: "ok", ports: [0] }, "ports[0]", /at least 1/],
    [{ name: "ok", ports: [80, 80] }, "ports", /repeat/],
    [{ name: "ok", ports: [true] }, "ports[0]", /must be of type integer or string/],
    [{ name: "ok", mode: "c" }, "mode", /one of "a", "b"/],
    [{ name: "ok", either: 3 }, "either", /none of the allowed forms/],
  ])("%j is refused at %s", (value, path, message) => {
    const issues = validateJsonSchema(schema, value);
    expect(issues.find((i) => i.path === path)?.message).toMatch(message);
  });

  test("a keyword it does not implement is an error, not a silent pass", () => {
    expect(() => validateJsonSchema({ if: { type: "string" } }, "x")).toThrow(
      /unsupported JSON Schema keyword if/,
    );
  });
});

describe(".env files", () => {
  test("reads set, commented and blank variables, and skips prose", () => {
    const entries = parseEnvFile("# Prose: A=B is not a line\nA=1\n# B=two words\nC=\n#D=x=y\n");
    expect(entries.map(({ name, value, commented }) => ({ name, value, commented }))).toEqual([
      { name: "A", value: "1", commented: false },
      { name: "B", value: "two words", commented: true },
      { name: "C", value: "", commented: false },
      { name: "D", value: "x=y", commented: true },
    ]);
  });
});

describe("Dockerfiles", () => {
  const text = [
    "ARG BASE=node:20.1.0-slim",
    "FROM ${BASE} AS build",
    "# a comment",
    "RUN a \\",
    "  # a comment inside a continued line is dropped, as Docker does",
    "  && b",
    "FROM ${BASE}",
    'CMD ["node", "x.js"]',
  ].join("\n");

  test("joins continued lines, drops comments and substitutes build arguments in FROM", () => {
    const stages = buildStages(parseDockerfile(text));
    expect(stages.map((s) => [s.image, s.name])).toEqual([
      ["node:20.1.0-slim", "build"],
      ["node:20.1.0-slim", undefined],
    ]);
    expect(stages[0]?.instructions).toEqual([{ keyword: "RUN", args: "a && b", line: 4 }]);
    expect(execForm(stages[1]?.instructions[0]?.args ?? "")).toEqual(["node", "x.js"]);
  });

  test("a shell-form command is not an exec form", () => {
    expect(execForm("node x.js")).toBeUndefined();
  });
});
