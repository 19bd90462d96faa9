import type { Enum, Field, Type } from "protobufjs";
import { checkScalar, describeValue, isPlainObject, wellKnownCheck } from "./json-mapping.js";
import { childPath, closestName, indexPath } from "./paths.js";
import { fieldKey, validationRuleIssues } from "./pgv-rules.js";
import { type EnvoyProtos, isEnum, isMessageType } from "./proto-root.js";

export interface Issue {
  /** Where in the config, e.g. `static_resources.listeners[0].name`. */
  path: string;
  message: string;
}

export interface ValidateOptions {
  /** Envoy accepts deprecated fields with a warning; the configs we ship should not use them. */
  allowDeprecated?: boolean;
}

const ANY = ".google.protobuf.Any";
// Envoy expands a TypedStruct into the message its type_url names, as if that message had been given.
const TYPED_STRUCTS = new Set([".xds.type.v3.TypedStruct", ".udpa.type.v1.TypedStruct"]);

const typeName = (type: Type) => type.fullName.replace(/^\./, "");

/**
 * Walks a parsed config (YAML or JSON) against a message type of Envoy's protos, the way Envoy's
 * loader reads it: unknown fields, values of the wrong type, enum names that do not exist, `@type`s
 * that name no message, two members of one oneof, deprecated fields, and the simple validation rules
 * (required, minimum length) Envoy checks before it accepts a config.
 */
export function validateConfig(
  protos: EnvoyProtos,
  config: unknown,
  rootType: string,
  options: ValidateOptions = {},
): Issue[] {
  const walker = new Walker(protos, options);
  walker.message(config, protos.type(rootType), "");
  return walker.issues;
}

class Walker {
  readonly issues: Issue[] = [];

  constructor(
    private readonly protos: EnvoyProtos,
    private readonly options: ValidateOptions,
  ) {}

  private report(path: string, message: string): void {
    this.issues.push({ path: path || "(root)", message });
  }

  message(value: unknown, type: Type, path: string): void {
    if (type.fullName === ANY) {
      this.any(value, path);
      return;
    }
    const special = wellKnownCheck(type.fullName);
    if (special) {
      const problem = special(value);
      if (problem) this.report(path, problem);
      return;
    }
    if (!isPlainObject(value)) {
      this.report(path, `expected an object (${typeName(type)}), got ${describeValue(value)}`);
      return;
    }
    const oneofsSet = new Map<string, string>();
    // A field whose value is already wrong is not also held to the validation rules.
    const malformed = new Set<string>();
    for (const [key, item] of Object.entries(value)) {
      const at = childPath(path, key);
      const field = fieldByKey(type, key);
      if (!field) {
        const guess = closestName(key, Object.keys(type.fields));
        this.report(at, `unknown field of ${typeName(type)}${guess ? ` (did you mean ${guess}?)` : ""}`);
        continue;
      }
      if (item === null) continue; // proto3 JSON: null leaves a field unset
      if (field.partOf) {
        const other = oneofsSet.get(field.partOf.name);
        if (other)
          this.report(at, `${other} is set too, but only one of ${field.partOf.oneof.join(", ")} may be`);
        oneofsSet.set(field.partOf.name, key);
      }
      if (field.options?.deprecated && !this.options.allowDeprecated) {
        this.report(at, `deprecated field of ${typeName(type)}`);
      }
      const before = this.issues.length;
      this.field(item, field, at);
      if (this.issues.length > before) malformed.add(field.name);
    }
    for (const issue of validationRuleIssues(type, value, malformed)) {
      this.report(issue.field ? childPath(path, issue.field) : path, issue.message);
    }
  }

  private field(value: unknown, field: Field, path: string): void {
    if (field.map) {
      if (!isPlainObject(value)) {
        this.report(path, `expected a map, got ${describeValue(value)}`);
        return;
      }
      for (const [key, item] of Object.entries(value)) this.single(item, field, childPath(path, key));
      return;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) {
        this.report(path, `expected a list, got ${describeValue(value)}`);
        return;
      }
      value.forEach((item, i) => {
        this.single(item, field, indexPath(path, i));
      });
      return;
    }
    this.single(value, field, path);
  }

  private single(value: unknown, field: Field, path: string): void {
    const resolved = field.resolvedType;
    if (isMessageType(resolved)) {
      this.message(value, resolved, path);
      return;
    }
    if (isEnum(resolved)) {
      this.enumValue(value, resolved, path);
      return;
    }
    const problem = checkScalar(value, field.type);
    if (problem) this.report(path, problem);
  }

  private enumValue(value: unknown, type: Enum, path: string): void {
    const name = type.fullName.replace(/^\./, "");
    const known =
      (typeof value === "string" && Object.hasOwn(type.values, value)) ||
      (typeof value === "number" && Object.values(type.values).includes(value));
    if (!known) {
      const names = Object.keys(type.values);
      const guess = typeof value === "string" ? closestName(value, names) : undefined;
      this.report(
        path,
        `${JSON.stringify(value)} is not a value of ${name}` +
          (guess ? ` (did you mean ${guess}?)` : ` (one of ${names.join(", ")})`),
      );
      return;
    }
    if (
      typeof value === "string" &&
      type.valuesOptions?.[value]?.deprecated &&
      !this.options.allowDeprecated
    ) {
      this.report(path, `deprecated value ${value} of ${name}`);
    }
  }

  /** An Any is written as its message's fields beside `@type` (or `value`, for a well-known type). */
  private any(value: unknown, path: string): void {
    if (!isPlainObject(value)) {
      this.report(path, `expected an object with "@type", got ${describeValue(value)}`);
      return;
    }
    const { "@type": typeUrl, ...fields } = value;
    const at = childPath(path, "@type");
    if (typeof typeUrl !== "string") {
      this.report(at, "missing: every typed_config names its message type");
      return;
    }
    const resolved = this.protos.resolveTypeUrl(typeUrl);
    if (!isMessageType(resolved)) {
      this.report(at, resolved.error);
      return;
    }
    if (wellKnownCheck(resolved.fullName)) {
      for (const key of Object.keys(fields)) {
        if (key !== "value")
          this.report(childPath(path, key), `unknown field beside a ${typeName(resolved)}'s value`);
      }
      this.message(fields.value, resolved, childPath(path, "value"));
      return;
    }
    this.message(fields, resolved, path);
    if (TYPED_STRUCTS.has(resolved.fullName) && typeof fields.type_url === "string") {
      this.any(
        { ...(isPlainObject(fields.value) ? fields.value : {}), "@type": fields.type_url },
        childPath(path, "value"),
      );
    }
  }
}

/** Envoy reads a field by its proto name or its JSON (lowerCamelCase) name. */
function fieldByKey(type: Type, key: string): Field | undefined {
  return type.fields[key] ?? type.fieldsArray.find((f) => fieldKey(f) === key);
}
