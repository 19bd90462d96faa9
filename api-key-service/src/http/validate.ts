import type { z } from "zod";
import { AppError, type FieldProblem } from "../errors.js";

/** Parses input with a schema or throws an INVALID_INPUT error that names every offending field. */
export function validate<T extends z.ZodType>(
  schema: T,
  input: unknown,
  where: "body" | "query" | "path",
): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems: FieldProblem[] = result.error.issues.flatMap((issue) => {
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((key) => ({
        field: fieldName([...issue.path, key]),
        message: "is not a known field",
      }));
    }
    const field = issue.path.length > 0 ? fieldName(issue.path) : where;
    const missing = issue.code === "invalid_type" && valueAt(input, issue.path) === undefined;
    const message = missing ? "is required" : issue.message;
    return [{ field, message }];
  });
  const detail = problems.map((p) => `${p.field}: ${p.message}`).join("; ");
  throw new AppError("INVALID_INPUT", detail, problems);
}

function fieldName(path: PropertyKey[]): string {
  return path
    .map((p) => (typeof p === "number" ? `[${p}]` : String(p)))
    .join(".")
    .replace(/\.\[/g, "[");
}

function valueAt(input: unknown, path: PropertyKey[]): unknown {
  let value = input;
  for (const step of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[step];
  }
  return value;
}
