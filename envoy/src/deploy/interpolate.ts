// Docker Compose's variable substitution (https://docs.docker.com/compose/how-tos/environment-variables/variable-interpolation/):
// `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
// `${VAR+alt}`, `$VAR` and `$$` for a literal `$`. Nested substitutions in defaults are not needed here.

export type Variables = Readonly<Record<string, string | undefined>>;

export class InterpolationError extends Error {
  override name = "InterpolationError";
}

const REFERENCE = /\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

/** Substitutes every reference in one string; a `?` reference to an unset variable throws its message. */
export function interpolate(text: string, vars: Variables): string {
  return text.replace(REFERENCE, (_match, dollar, braced, operator, operand, bare) => {
    if (dollar) return "$";
    const name = (braced ?? bare) as string;
    const value = vars[name];
    const unset = value === undefined || (operator?.startsWith(":") && value === "");
    switch (operator?.replace(":", "")) {
      case "-":
        return unset ? operand : (value as string);
      case "?":
        if (unset) throw new InterpolationError(`${name}: ${operand || "required variable is not set"}`);
        return value as string;
      case "+":
        return unset ? "" : operand;
      default:
        return value ?? "";
    }
  });
}

/** Substitutes in every string of a parsed compose file (keys are left alone, as Compose does). */
export function interpolateDeep(value: unknown, vars: Variables): unknown {
  if (typeof value === "string") return interpolate(value, vars);
  if (Array.isArray(value)) return value.map((item) => interpolateDeep(item, vars));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateDeep(v, vars)]));
  }
  return value;
}

/** The names of the variables a text refers to. */
export function referencedVariables(text: string): Set<string> {
  const names = new Set<string>();
  for (const match of text.matchAll(REFERENCE)) {
    const name = match[2] ?? match[5];
    if (name) names.add(name);
  }
  return names;
}
