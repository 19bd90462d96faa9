import { badRequest, invalidInteger, missingParam, tooLong, unknownParam } from "./errors.js";
import type { FormObject } from "./form.js";

/**
 * Typed reads of v1 form parameters with Stripe's messages. An empty string counts as absent,
 * as in Stripe's form API, where `param=` unsets a value.
 */
export class FormParams {
  constructor(
    private readonly raw: FormObject,
    allowed: readonly string[],
  ) {
    for (const name of Object.keys(raw)) {
      if (!allowed.includes(name)) throw unknownParam(name);
    }
  }

  string(name: string, max?: number): string | undefined {
    const value = this.raw[name];
    if (value === undefined || value === "") return undefined;
    if (typeof value !== "string") throw badRequest(`Invalid string: ${name} must be a string`, name);
    if (max !== undefined && value.length > max) throw tooLong(name, value, max);
    return value;
  }

  requiredString(name: string, max?: number): string {
    const value = this.string(name, max);
    if (value === undefined) throw missingParam(name);
    return value;
  }

  integer(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(Number(value))) throw invalidInteger(name, value);
    return Number(value);
  }

  requiredInteger(name: string): number {
    const value = this.integer(name);
    if (value === undefined) throw missingParam(name);
    return value;
  }

  oneOf<T extends string>(name: string, choices: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!(choices as readonly string[]).includes(value)) {
      throw badRequest(`Invalid ${name}: must be one of ${choices.join(", ")}`, name);
    }
    return value as T;
  }

  /** A `name[key]=value` map whose values must all be plain strings. */
  stringMap(name: string): Record<string, string> | undefined {
    const value = this.raw[name];
    if (value === undefined || value === "") return undefined;
    if (typeof value === "string" || Array.isArray(value)) {
      throw badRequest(`Invalid object: ${name} must be a hash of string keys to string values`, name);
    }
    return stringEntries(name, value);
  }

  /** Accepted and ignored; expansion has nothing to expand on these objects. */
  ignoreExpand(): void {
    const value = this.raw.expand;
    if (value !== undefined && value !== "" && !Array.isArray(value)) {
      throw badRequest("Invalid array: expand must be an array of strings", "expand");
    }
  }
}

function stringEntries(name: string, value: FormObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, inner] of Object.entries(value)) {
    if (typeof inner !== "string") {
      throw badRequest(`Invalid value for ${name}[${key}]: must be a string`, `${name}[${key}]`);
    }
    out[key] = inner;
  }
  return out;
}

/** Whether a JSON value is a plain object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
