// The protoc-gen-validate rules in Envoy's protos (`[(validate.rules).string = {min_len: 1}]` and so on)
// that Envoy checks after parsing a config and before using it. The common ones are checked here, with
// PGV's meaning: an absent scalar is its default (0, ""), an absent message is only an error when it is
// required, and a member of a oneof is only checked when it is the one set.
import type { Field, Type } from "protobufjs";

export interface RuleIssue {
  /** The field the rule is on; none for a oneof. */
  field?: string;
  message: string;
}

type Options = Record<string, unknown>;

const COMPARISONS = {
  gt: (a: number, b: number) => a > b,
  gte: (a: number, b: number) => a >= b,
  lt: (a: number, b: number) => a < b,
  lte: (a: number, b: number) => a <= b,
} as const;
const WORDS = { gt: "above", gte: "at least", lt: "below", lte: "at most" } as const;
const NUMERIC_RULES = ["uint32", "uint64", "int32", "int64", "double", "float"];

/** The key a field is written under in JSON: its lowerCamelCase name (the proto name also works). */
export function fieldKey(field: Field): string {
  return field.name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

function read(value: Record<string, unknown>, field: Field): unknown {
  return value[field.name] ?? value[fieldKey(field)] ?? undefined;
}

export function validationRuleIssues(
  type: Type,
  value: Record<string, unknown>,
  skip: ReadonlySet<string> = new Set(),
): RuleIssue[] {
  const issues: RuleIssue[] = [];
  for (const field of type.fieldsArray) {
    const rules = field.options as Options | undefined;
    if (!rules || skip.has(field.name)) continue;
    const given = read(value, field);
    // A oneof member that is not the one set is not validated; nor is an absent message.
    if (given === undefined && (field.partOf || !isScalarish(field))) {
      if (!field.partOf && isRequired(rules)) issues.push({ field: field.name, message: "required" });
      continue;
    }
    const message = fieldProblem(field, rules, given);
    if (message) issues.push({ field: field.name, message });
  }
  for (const oneof of type.oneofsArray) {
    const required = (oneof.options as Options | undefined)?.["(validate.required)"] === true;
    if (required && !oneof.oneof.some((name) => read(value, type.fields[name] as Field) !== undefined)) {
      issues.push({ message: `one of ${oneof.oneof.join(", ")} is required` });
    }
  }
  return issues;
}

function isRequired(rules: Options): boolean {
  return Object.entries(rules).some(
    ([key, v]) => /^\(validate\.rules\)\.\w+\.required$/.test(key) && v === true,
  );
}

/** Scalars, enums, lists and maps have a default when absent; messages do not. */
function isScalarish(field: Field): boolean {
  return field.repeated || field.map || !field.resolvedType || !("fieldsArray" in field.resolvedType);
}

function fieldProblem(field: Field, rules: Options, given: unknown): string | null {
  const rule = (path: string) => rules[`(validate.rules).${path}`];
  if (field.map) {
    const pairs = Object.keys((given as object | undefined) ?? {}).length;
    const min = rule("map.min_pairs");
    return typeof min === "number" && pairs < min ? `needs at least ${min} entries` : null;
  }
  if (field.repeated) {
    const items = Array.isArray(given) ? given.length : 0;
    const min = rule("repeated.min_items");
    const max = rule("repeated.max_items");
    if (typeof min === "number" && items < min) return `needs at least ${min} item${min === 1 ? "" : "s"}`;
    if (typeof max === "number" && items > max) return `allows at most ${max} items`;
    return null;
  }
  if (typeof given === "string" || (given === undefined && field.type === "string")) {
    const text = (given as string | undefined) ?? "";
    if (text === "" && rule("string.ignore_empty") === true) return null;
    const min = rule("string.min_len");
    const max = rule("string.max_bytes");
    if (typeof min === "number" && [...text].length < min) return `must not be empty`;
    if (typeof max === "number" && Buffer.byteLength(text) > max) return `must be at most ${max} bytes`;
  }
  return numericProblem(rule, given) ?? durationProblem(rule, given);
}

function numericProblem(rule: (path: string) => unknown, given: unknown): string | null {
  const number = given === undefined ? 0 : Number(given);
  if (Number.isNaN(number)) return null; // the JSON mapping reports the wrong type
  for (const kind of NUMERIC_RULES) {
    if (rule(`${kind}.ignore_empty`) === true && number === 0) return null;
    for (const op of Object.keys(COMPARISONS) as (keyof typeof COMPARISONS)[]) {
      const bound = rule(`${kind}.${op}`);
      if (typeof bound === "number" && !COMPARISONS[op](number, bound))
        return `must be ${WORDS[op]} ${bound}`;
    }
  }
  return null;
}

function durationProblem(rule: (path: string) => unknown, given: unknown): string | null {
  if (typeof given !== "string" || !given.endsWith("s")) return null;
  const seconds = Number(given.slice(0, -1));
  for (const op of Object.keys(COMPARISONS) as (keyof typeof COMPARISONS)[]) {
    const s = rule(`duration.${op}.seconds`);
    const n = rule(`duration.${op}.nanos`);
    if (s === undefined && n === undefined) continue;
    const bound = Number(s ?? 0) + Number(n ?? 0) / 1e9;
    if (!COMPARISONS[op](seconds, bound)) return `must be ${WORDS[op]} ${bound}s`;
  }
  return null;
}
