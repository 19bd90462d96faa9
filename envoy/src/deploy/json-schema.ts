// A JSON Schema (draft-07) validator for the keywords the Compose specification's schema uses. A schema
// with any other keyword is refused rather than half-checked, so a newer schema cannot pass by accident.

export type Schema = boolean | { [keyword: string]: unknown };

export interface SchemaIssue {
  path: string;
  message: string;
}

const ANNOTATIONS = new Set([
  "$schema",
  "$id",
  "$comment",
  "title",
  "description",
  "default",
  "deprecated",
  "examples",
]);
const CHECKED = new Set([
  "$ref",
  "type",
  "enum",
  "const",
  "properties",
  "patternProperties",
  "additionalProperties",
  "required",
  "items",
  "uniqueItems",
  "minItems",
  "oneOf",
  "anyOf",
  "allOf",
  "minimum",
  "maximum",
  "pattern",
  "minLength",
  "definitions",
]);

type Node = Record<string, unknown>;

const WRONG_TYPE = "must be of type ";

const isObject = (v: unknown): v is Node => typeof v === "object" && v !== null && !Array.isArray(v);
const at = (path: string, key: string | number) =>
  typeof key === "number" ? `${path}[${key}]` : path ? `${path}.${key}` : key;

function typeOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

function hasType(value: unknown, type: string): boolean {
  if (type === "integer") return Number.isInteger(value);
  if (type === "object") return isObject(value);
  return typeOf(value) === type;
}

export function validateJsonSchema(root: Node, value: unknown): SchemaIssue[] {
  const resolve = (ref: string): Schema => {
    if (!ref.startsWith("#/")) throw new Error(`unsupported $ref ${ref}: only local references`);
    let node: unknown = root;
    for (const part of ref.slice(2).split("/")) node = isObject(node) ? node[part] : undefined;
    if (node === undefined) throw new Error(`$ref ${ref} points nowhere`);
    return node as Schema;
  };

  const check = (schema: Schema, v: unknown, path: string): SchemaIssue[] => {
    if (schema === true) return [];
    if (schema === false) return [{ path, message: "is not allowed here" }];
    const issues: SchemaIssue[] = [];
    const fail = (message: string, where = path) => issues.push({ path: where || "(root)", message });
    for (const key of Object.keys(schema)) {
      if (!ANNOTATIONS.has(key) && !CHECKED.has(key))
        throw new Error(`unsupported JSON Schema keyword ${key}`);
    }
    if (typeof schema.$ref === "string") issues.push(...check(resolve(schema.$ref), v, path));
    if (schema.type !== undefined) {
      const types = ([] as unknown[]).concat(schema.type) as string[];
      if (!types.some((t) => hasType(v, t)))
        return [...issues, { path, message: `${WRONG_TYPE}${types.join(" or ")}, not ${typeOf(v)}` }];
    }
    if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) {
      fail(`must be one of ${schema.enum.map((e) => JSON.stringify(e)).join(", ")}`);
    }
    if ("const" in schema && JSON.stringify(schema.const) !== JSON.stringify(v))
      fail(`must be ${JSON.stringify(schema.const)}`);
    if (typeof v === "string") checkString(schema, v, fail);
    if (typeof v === "number") checkNumber(schema, v, fail);
    if (Array.isArray(v)) {
      if (isObject(schema.items) || typeof schema.items === "boolean") {
        for (const [i, item] of v.entries()) issues.push(...check(schema.items as Schema, item, at(path, i)));
      }
      if (schema.uniqueItems === true && new Set(v.map((i) => JSON.stringify(i))).size !== v.length) {
        fail("must not repeat an item");
      }
      if (typeof schema.minItems === "number" && v.length < schema.minItems)
        fail(`needs at least ${schema.minItems} items`);
    }
    if (isObject(v)) issues.push(...checkObject(schema, v, path));
    for (const sub of (schema.allOf as Schema[] | undefined) ?? []) issues.push(...check(sub, v, path));
    for (const keyword of ["oneOf", "anyOf"] as const) {
      const options = schema[keyword] as Schema[] | undefined;
      if (!options) continue;
      const results = options.map((sub) => check(sub, v, path));
      const matches = results.filter((r) => r.length === 0).length;
      if (matches === 0) {
        // The alternative that came closest says most about what is wrong; one of another type is far.
        const distance = (r: SchemaIssue[]) =>
          r.length + (r.some((i) => i.path === path && i.message.startsWith(WRONG_TYPE)) ? 1000 : 0);
        const closest = results.reduce((a, b) => (distance(b) < distance(a) ? b : a));
        fail(
          `matches none of the allowed forms (${keyword}); closest: ${closest.map((i) => `${i.path}: ${i.message}`).join("; ")}`,
        );
      } else if (keyword === "oneOf" && matches > 1) {
        fail("matches more than one of the allowed forms (oneOf)");
      }
    }
    return issues;
  };

  const checkObject = (schema: Node, v: Node, path: string): SchemaIssue[] => {
    const issues: SchemaIssue[] = [];
    const properties = (schema.properties as Record<string, Schema> | undefined) ?? {};
    const patterns = Object.entries(
      (schema.patternProperties as Record<string, Schema> | undefined) ?? {},
    ).map(([pattern, sub]) => [new RegExp(pattern, "u"), sub] as const);
    for (const name of (schema.required as string[] | undefined) ?? []) {
      if (!(name in v)) issues.push({ path: path || "(root)", message: `needs ${name}` });
    }
    for (const [key, item] of Object.entries(v)) {
      const where = at(path, key);
      let matched = false;
      if (Object.hasOwn(properties, key)) {
        matched = true;
        issues.push(...check(properties[key] as Schema, item, where));
      }
      for (const [pattern, sub] of patterns) {
        if (pattern.test(key)) {
          matched = true;
          issues.push(...check(sub, item, where));
        }
      }
      if (!matched && schema.additionalProperties !== undefined) {
        if (schema.additionalProperties === false)
          issues.push({ path: where, message: "is not a known property" });
        else issues.push(...check(schema.additionalProperties as Schema, item, where));
      }
    }
    return issues;
  };

  return check(root, value, "");
}

function checkString(schema: Node, v: string, fail: (message: string) => void): void {
  if (typeof schema.pattern === "string" && !new RegExp(schema.pattern, "u").test(v))
    fail(`must match ${schema.pattern}`);
  if (typeof schema.minLength === "number" && [...v].length < schema.minLength)
    fail(`needs at least ${schema.minLength} characters`);
}

function checkNumber(schema: Node, v: number, fail: (message: string) => void): void {
  if (typeof schema.minimum === "number" && v < schema.minimum) fail(`must be at least ${schema.minimum}`);
  if (typeof schema.maximum === "number" && v > schema.maximum) fail(`must be at most ${schema.maximum}`);
}
